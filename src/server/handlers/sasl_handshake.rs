//! SaslHandshake outside a login: on a listener that asks for none, or after the
//! client has logged in, Kafka answers ILLEGAL_SASL_STATE. A SASL listener's login
//! exchange is `server::sasl`'s.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};

use super::{Ctx, Response};

pub const VERSIONS: std::ops::RangeInclusive<i16> = crate::server::sasl::HANDSHAKE_VERSIONS;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    if ctx.decode::<SaslHandshakeRequest>(body).is_none() {
        return Response::Close;
    }
    ctx.respond(
        &SaslHandshakeResponse::default().with_error_code(ResponseError::IllegalSaslState.code()),
    )
}
