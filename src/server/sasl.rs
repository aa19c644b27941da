//! A SASL listener's side of logging in, as Kafka's `SaslServerAuthenticator` runs it:
//! ApiVersions and SaslHandshake may come first, then SaslAuthenticate requests (after a
//! v1 handshake; bare tokens after a v0 one) carry the mechanism's messages until the
//! client has proven who it is. Any other request before the handshake closes the
//! connection; one after a v1 handshake gets its own error answer (ILLEGAL_SASL_STATE),
//! then the connection closes, as after a failed login, whose answer
//! (SASL_AUTHENTICATION_FAILED and Kafka's message) goes out after
//! `connection.failed.authentication.delay.ms`.
//!
//! The exchange runs in the connection's reading task, one request at a time, so each
//! step sees the state the one before left; it does no I/O (SCRAM's keys are derived
//! when credentials are stored, not at login).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::oauth::SharedJwks;
use crate::cluster::Snapshot;
use crate::error::ApiError;
use crate::protocol::{self, Request};
use crate::security::oauth;
use crate::security::scram::ScramExchange;
use crate::security::{plain, user_principal, ListenerSecurity, Mechanism, Refused};
use crate::shard::Shard;

/// After a v0 handshake the mechanism's messages come as bare tokens (no SaslAuthenticate).
pub const HANDSHAKE_VERSIONS: std::ops::RangeInclusive<i16> = 0..=1;
pub const AUTHENTICATE_VERSIONS: std::ops::RangeInclusive<i16> = 0..=2;

/// Where a connection of a SASL listener stands.
pub struct Login {
    security: ListenerSecurity,
    /// OAUTHBEARER's keys, when the listener enables it.
    oauth: Option<SharedJwks>,
    state: State,
    /// The handshake was v0: tokens come bare.
    bare: bool,
    /// The mechanism the handshake agreed on.
    agreed: Option<Mechanism>,
    /// On a login again, the principal it must prove (Kafka refuses another) and the
    /// mechanism it must use.
    expected: Option<(String, Mechanism)>,
    /// When the credential proven expires (an OAUTHBEARER token's `exp`).
    credential_expires: Option<SystemTime>,
    /// ApiVersions was answered: Kafka answers it once per login.
    versions_answered: bool,
}

enum State {
    /// Waiting for SaslHandshake.
    Handshake,
    /// The mechanism agreed; waiting for its first message.
    Started(Mechanism),
    /// SCRAM, waiting for the client's final message.
    ScramFinal(Box<ScramExchange>),
    /// OAUTHBEARER refused the token: waiting for the client's `\x01` (RFC 7628), to
    /// fail with `INVALID_TOKEN`.
    OAuthRefused,
    /// A login again agreed on another mechanism than the first login's: Kafka answers
    /// the handshake as usual, then fails the login at the next frame, unanswered.
    OtherMechanism,
    /// Logged in as this principal.
    Done(String),
}

/// What the connection does with a frame read before the login completed.
pub enum Step {
    /// Serve it as any request (ApiVersions).
    Serve(Request),
    /// Send this answer to a request of the API and version, and go on reading.
    Answer((ApiKey, i16), Bytes),
    /// Send this answer after the delay, then close the connection.
    Last((ApiKey, i16), Bytes, Duration),
    /// The login failed with no answer to send: close the connection after the delay.
    Fail(Duration),
    /// Close the connection without an answer.
    Close,
}

impl Login {
    /// `None` for a listener that asks for no login.
    pub fn new(security: &ListenerSecurity, oauth: Option<SharedJwks>) -> Option<Login> {
        security
            .protocol
            .is_sasl()
            .then(|| Login::start(security.clone(), oauth, None))
    }

    /// A login again on a connection logged in as `principal` with `mechanism`
    /// (KIP-368): only that principal and that mechanism are accepted.
    pub fn again(
        security: &ListenerSecurity,
        oauth: Option<SharedJwks>,
        (principal, mechanism): (&str, Mechanism),
    ) -> Login {
        Login::start(
            security.clone(),
            oauth,
            Some((principal.to_string(), mechanism)),
        )
    }

    fn start(
        security: ListenerSecurity,
        oauth: Option<SharedJwks>,
        expected: Option<(String, Mechanism)>,
    ) -> Login {
        Login {
            security,
            oauth,
            state: State::Handshake,
            bare: false,
            agreed: None,
            expected,
            credential_expires: None,
            versions_answered: false,
        }
    }

    /// How long the login holds (KIP-368): the least of the reauthentication limit (the
    /// listener's `connections.max.reauth.ms` for the mechanism, else the broker's,
    /// `broker_wide`) and what is left of the credential's lifetime; `None` when neither
    /// bounds it.
    pub fn lifetime(&self, broker_wide: Option<Duration>) -> Option<Duration> {
        let own = self.agreed.and_then(|agreed| {
            let (_, ms) = self.security.reauth_ms.iter().find(|(m, _)| *m == agreed)?;
            Some(limit_ms(*ms))
        });
        let reauth = own.unwrap_or(broker_wide);
        let left = self.credential_expires.map(|at| {
            at.duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
        });
        match (left, reauth) {
            (Some(left), Some(reauth)) => Some(left.min(reauth)),
            (left, reauth) => left.or(reauth),
        }
    }

    /// The principal and the mechanism, once logged in.
    pub fn completed(&self) -> Option<(String, Mechanism)> {
        Some((self.principal()?.to_string(), self.agreed?))
    }

    /// The principal, once logged in.
    pub fn principal(&self) -> Option<&str> {
        match &self.state {
            State::Done(principal) => Some(principal),
            _ => None,
        }
    }

    /// One frame of the login exchange (the connection calls it only until `principal`
    /// is `Some`).
    pub fn read(&mut self, shard: &Shard, frame: Bytes) -> Step {
        if matches!(self.state, State::OtherMechanism) {
            tracing::info!("SASL login again failed: another mechanism than the first login's");
            shard.metrics.authentications_failed.add(1);
            return Step::Fail(failed_login_delay(&shard.snapshot()));
        }
        if self.wants_bare_token() {
            return self.bare_token(shard, &frame);
        }
        match protocol::parse_request(frame) {
            Ok(request) => self.step(shard, request),
            Err(error) => {
                tracing::debug!(%error, "closing connection");
                Step::Close
            }
        }
    }

    /// Serves a request already parsed (`read` parses; a login again starts with the
    /// SaslHandshake the connection parsed).
    pub fn step(&mut self, shard: &Shard, request: Request) -> Step {
        match request.api_key {
            ApiKey::ApiVersions => self.api_versions(shard, request),
            ApiKey::SaslHandshake => self.handshake(shard, &request),
            ApiKey::SaslAuthenticate => self.authenticate(shard, &request),
            _ if self.awaits_authenticate() => self.unexpected(shard, &request),
            other => {
                tracing::debug!(api = ?other, "closing connection: a request before the SASL login completed");
                Step::Close
            }
        }
    }

    /// After a v1 handshake only SaslAuthenticate may come (and ApiVersions or another
    /// SaslHandshake, each with its own answer).
    fn awaits_authenticate(&self) -> bool {
        !self.bare
            && matches!(
                self.state,
                State::Started(_) | State::ScramFinal(_) | State::OAuthRefused
            )
    }

    /// Another request where SaslAuthenticate was due: as Kafka's authenticator, its
    /// own error answer with ILLEGAL_SASL_STATE, after the failed-login delay, then
    /// the connection closes. A request that does not parse is closed unanswered.
    fn unexpected(&self, shard: &Shard, request: &Request) -> Step {
        let api = protocol::screaming_snake(&format!("{:?}", request.api_key));
        let why = format!("Unexpected Kafka request of type {api} during SASL authentication.");
        tracing::debug!(api, "closing connection: {why}");
        let error = ApiError::new(ResponseError::IllegalSaslState, why);
        match super::handlers::error_answer(request, &error) {
            Some(frame) => Step::Last(
                (request.api_key, request.version),
                frame,
                failed_login_delay(&shard.snapshot()),
            ),
            None => Step::Close,
        }
    }

    /// ApiVersions, as Kafka's authenticator takes it: once, before the handshake (an
    /// answer of a version it does not know does not count); a second one closes the
    /// connection, and one after the handshake is answered ILLEGAL_SASL_STATE, then
    /// the connection closes, as after a failed login.
    fn api_versions(&mut self, shard: &Shard, request: Request) -> Step {
        if !matches!(self.state, State::Handshake) {
            let refused = ApiVersionsResponse::default()
                .with_error_code(ResponseError::IllegalSaslState.code());
            return last(&request, &refused, failed_login_delay(&shard.snapshot()));
        }
        if self.versions_answered {
            tracing::debug!("closing connection: a second ApiVersions before the SASL login");
            return Step::Close;
        }
        // Only a full answer counts: one to a version shoal does not know, or to a
        // malformed client software name, leaves the client to ask again.
        self.versions_answered = super::handlers::versions(ApiKey::ApiVersions)
            .and_then(|served| decode::<ApiVersionsRequest>(&request, &served))
            .is_some_and(|asked| super::handlers::api_versions_valid(&asked, request.version));
        Step::Serve(request)
    }

    /// SaslHandshake: the mechanism agreed and the enabled ones listed. A mechanism not
    /// enabled, or a second handshake, is answered as a failed login is: after the
    /// delay, then the connection closes.
    fn handshake(&mut self, shard: &Shard, request: &Request) -> Step {
        let Some(handshake) = decode::<SaslHandshakeRequest>(request, &HANDSHAKE_VERSIONS) else {
            return Step::Close;
        };
        let enabled = self
            .security
            .mechanisms
            .iter()
            .map(|m| StrBytes::from_static_str(m.name()))
            .collect();
        let mut response = SaslHandshakeResponse::default().with_mechanisms(enabled);
        let chosen =
            Mechanism::parse(&handshake.mechanism).filter(|m| self.security.mechanisms.contains(m));
        match (&self.state, chosen) {
            (State::Handshake, Some(mechanism)) => {
                let first = self.expected.as_ref().map(|(_, first)| *first);
                self.state = match first {
                    Some(first) if first != mechanism => State::OtherMechanism,
                    _ => State::Started(mechanism),
                };
                self.agreed = Some(mechanism);
                self.bare = request.version == 0;
                answer(request, &response)
            }
            (State::Handshake, None) => {
                tracing::debug!(mechanism = %handshake.mechanism.as_str(), "closing connection: SASL mechanism not enabled");
                response.error_code = ResponseError::UnsupportedSaslMechanism.code();
                last(request, &response, failed_login_delay(&shard.snapshot()))
            }
            // Kafka's answer is the request's error answer: no mechanisms listed.
            _ => {
                let refused = SaslHandshakeResponse::default()
                    .with_error_code(ResponseError::IllegalSaslState.code());
                last(request, &refused, failed_login_delay(&shard.snapshot()))
            }
        }
    }

    fn authenticate(&mut self, shard: &Shard, request: &Request) -> Step {
        let Some(message) = decode::<SaslAuthenticateRequest>(request, &AUTHENTICATE_VERSIONS)
        else {
            return Step::Close;
        };
        let snapshot = &shard.snapshot();
        match self.exchange(shard, &message.auth_bytes) {
            Some(Ok(reply)) => {
                let mut response = SaslAuthenticateResponse::default().with_auth_bytes(reply);
                if self.principal().is_some() {
                    // KIP-368: the client learns how long its login holds (v1+).
                    let lifetime = self.lifetime(reauth_limit(snapshot));
                    response.session_lifetime_ms =
                        lifetime.map_or(0, |l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX));
                }
                answer(request, &response)
            }
            Some(Err(Refused(reason))) => {
                let response = SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                    .with_error_message(Some(StrBytes::from_string(reason)));
                last(request, &response, failed_login_delay(snapshot))
            }
            // Before a SaslHandshake: Kafka closes without an answer.
            None => {
                tracing::debug!("closing connection: SaslAuthenticate before a SaslHandshake");
                Step::Close
            }
        }
    }

    /// Whether the next frame is a bare token: after a v0 handshake, the mechanism's
    /// messages come without Kafka's request header.
    fn wants_bare_token(&self) -> bool {
        self.bare
            && matches!(
                self.state,
                State::Started(_) | State::ScramFinal(_) | State::OAuthRefused
            )
    }

    /// A bare token (see `wants_bare_token`): answered with a bare token; a failed login
    /// closes the connection without an answer after the delay, as Kafka does there.
    fn bare_token(&mut self, shard: &Shard, token: &[u8]) -> Step {
        match self.exchange(shard, token) {
            Some(Ok(reply)) => {
                let mut frame = Vec::with_capacity(4 + reply.len());
                frame.extend_from_slice(&(reply.len() as u32).to_be_bytes());
                frame.extend_from_slice(&reply);
                Step::Answer((ApiKey::SaslAuthenticate, 0), Bytes::from(frame))
            }
            Some(Err(_)) => Step::Fail(failed_login_delay(&shard.snapshot())),
            None => Step::Close,
        }
    }

    /// One message of the mechanism's exchange: the reply, a refused login, or `None`
    /// when no message was expected.
    fn exchange(&mut self, shard: &Shard, bytes: &[u8]) -> Option<Result<Bytes, Refused>> {
        let snapshot = shard.snapshot();
        let state = std::mem::replace(&mut self.state, State::Handshake);
        let outcome = match state {
            State::Started(Mechanism::Plain) => {
                plain::authenticate(bytes, &self.security.plain_users)
                    .map(|user| (Some(user), Bytes::new()))
            }
            State::Started(Mechanism::Scram(mechanism)) => {
                let lookup = |user: &str| snapshot.scram_credential(user, mechanism).cloned();
                ScramExchange::start(mechanism, bytes, lookup).map(|(exchange, first)| {
                    self.state = State::ScramFinal(Box::new(exchange));
                    (None, Bytes::from(first))
                })
            }
            State::ScramFinal(exchange) => exchange
                .finish(bytes)
                .map(|(user, last)| (Some(user), Bytes::from(last))),
            State::Started(Mechanism::OAuthBearer) => {
                // The keys current now: a login again after a rotation takes the new ones.
                let validator = self.oauth.as_ref()?.borrow_mut().validator();
                match validator.authenticate(bytes) {
                    Ok((user, expires_ms)) => {
                        self.credential_expires =
                            Some(UNIX_EPOCH + Duration::from_millis(expires_ms));
                        Ok((Some(user), Bytes::new()))
                    }
                    // RFC 7628: the error goes to the client, which ends the exchange.
                    Err(None) => {
                        self.state = State::OAuthRefused;
                        return Some(Ok(Bytes::from_static(oauth::INVALID_TOKEN.as_bytes())));
                    }
                    Err(Some(refused)) => Err(refused),
                }
            }
            State::OAuthRefused => Err(Refused(oauth::INVALID_TOKEN.to_string())),
            State::Handshake | State::Started(_) | State::OtherMechanism | State::Done(_) => {
                return None
            }
        };
        let outcome = outcome.and_then(|(user, reply)| match (&user, &self.expected) {
            (Some(user), Some((expected, _))) if user_principal(user) != *expected => {
                Err(Refused(format!(
                    "Cannot change principals during re-authentication from {expected}: {}",
                    user_principal(user)
                )))
            }
            _ => Ok((user, reply)),
        });
        Some(match outcome {
            Ok((user, reply)) => {
                if let Some(user) = user {
                    tracing::debug!(%user, "SASL login");
                    shard.metrics.authentications_succeeded.add(1);
                    self.state = State::Done(user_principal(&user));
                }
                Ok(reply)
            }
            Err(refused) => {
                tracing::info!(reason = %refused, "SASL login failed");
                shard.metrics.authentications_failed.add(1);
                Err(refused)
            }
        })
    }
}

fn decode<R: Decodable>(request: &Request, versions: &std::ops::RangeInclusive<i16>) -> Option<R> {
    if !versions.contains(&request.version) {
        tracing::debug!(api = ?request.api_key, version = request.version, "closing connection: unsupported version");
        return None;
    }
    let mut body = request.body.clone();
    R::decode(&mut body, request.version).ok()
}

fn encode<R: Encodable>(request: &Request, body: &R) -> Option<Bytes> {
    protocol::encode_response(
        request.api_key,
        request.version,
        request.header.correlation_id,
        body,
    )
    .ok()
}

fn answer<R: Encodable>(request: &Request, body: &R) -> Step {
    let api = (request.api_key, request.version);
    encode(request, body).map_or(Step::Close, |frame| Step::Answer(api, frame))
}

/// The last answer on the connection, sent after `delay`.
fn last<R: Encodable>(request: &Request, body: &R, delay: Duration) -> Step {
    let api = (request.api_key, request.version);
    encode(request, body).map_or(Step::Close, |frame| Step::Last(api, frame, delay))
}

/// `connections.max.reauth.ms`, or `None` when logins hold for the connection's life.
pub fn reauth_limit(snapshot: &Snapshot) -> Option<Duration> {
    limit_ms(snapshot.broker.connections_max_reauth_ms)
}

/// A limit in milliseconds as Kafka's connection settings give it: 0 or less is none.
pub fn limit_ms(ms: i64) -> Option<Duration> {
    u64::try_from(ms)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// How long a failed login's answer waits: `connection.failed.authentication.delay.ms`.
fn failed_login_delay(snapshot: &Snapshot) -> Duration {
    let ms = snapshot.broker.connection_failed_authentication_delay_ms;
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
