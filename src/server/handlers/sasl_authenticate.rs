//! SaslAuthenticate outside a login: on a listener that asks for none, or after the
//! client has logged in, Kafka answers ILLEGAL_SASL_STATE. A SASL listener's login
//! exchange is `server::sasl`'s.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Response};

pub const VERSIONS: std::ops::RangeInclusive<i16> = crate::server::sasl::AUTHENTICATE_VERSIONS;

pub async fn handle(ctx: Ctx, body: Bytes) -> Response {
    if ctx.decode::<SaslAuthenticateRequest>(body).is_none() {
        return Response::Close;
    }
    let snapshot = ctx.shard.snapshot();
    let message = match snapshot
        .broker
        .security_of(&ctx.peer.listener)
        .protocol
        .is_sasl()
    {
        true => "SaslAuthenticate request received after successful authentication",
        false => "SaslAuthenticate request received on a listener that does not use SASL",
    };
    ctx.respond(
        &SaslAuthenticateResponse::default()
            .with_error_code(ResponseError::IllegalSaslState.code())
            .with_error_message(Some(StrBytes::from_static_str(message))),
    )
}
