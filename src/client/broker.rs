//! One broker connection with negotiated API versions.
//!
//! Invariant: every request goes out at the highest version that both the broker (its
//! ApiVersions answer) and kafka-protocol support; a caller that needs a field only some
//! versions carry asks for `version::<R>()` first and builds the request for that version.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, ResponseHeader, SaslAuthenticateRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::{Decodable, Message, Request, StrBytes, VersionRange};

use super::cluster::{Login, Options};
use super::error::{Error, Result};
use super::Connection;
use crate::security::scram::ScramClient;
use crate::security::Mechanism;

/// Kafka's UNSUPPORTED_VERSION: an ApiVersions request newer than the broker knows is
/// answered in the v0 layout with this code and the versions the broker does know.
const UNSUPPORTED_VERSION: i16 = 35;

/// The API versions a broker serves: api key -> (min, max).
#[derive(Debug, Clone, Default)]
pub struct Versions {
    ranges: HashMap<i16, (i16, i16)>,
}

impl Versions {
    pub fn from_response(response: &ApiVersionsResponse) -> Versions {
        let ranges = response
            .api_keys
            .iter()
            .map(|api| (api.api_key, (api.min_version, api.max_version)))
            .collect();
        Versions { ranges }
    }

    /// The highest version of `api` both sides support, if any.
    pub fn pick(&self, api: i16, ours: VersionRange) -> Option<i16> {
        let &(min, max) = self.ranges.get(&api)?;
        highest_common((min, max), (ours.min, ours.max))
    }
}

/// The highest version inside both inclusive ranges.
pub fn highest_common(theirs: (i16, i16), ours: (i16, i16)) -> Option<i16> {
    let high = theirs.1.min(ours.1);
    (high >= theirs.0.max(ours.0)).then_some(high)
}

/// What a held request's wait is given on top of the broker's own bound (Java's consumer
/// gives JoinGroup its rebalance timeout plus 5 s).
const WAIT_MARGIN: Duration = Duration::from_secs(5);

pub struct Broker {
    address: String,
    connection: Connection,
    versions: Versions,
}

impl Broker {
    /// Connects to `address` (HOST:PORT), over TLS when the options carry a TLS config,
    /// asks which API versions it serves, and logs in when the options carry a SASL login.
    pub fn connect(address: &str, options: &Options) -> Result<Broker> {
        let (client_id, timeout) = (&options.client_id, options.timeout);
        let failed = |error| Error::Connect {
            address: address.to_string(),
            error,
        };
        let mut connection =
            Connection::connect_timeout(address, client_id, timeout).map_err(failed)?;
        if let Some(tls) = &options.tls {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            connection = connection.start_tls(tls, host).map_err(failed)?;
        }
        let mut broker = Broker {
            address: address.to_string(),
            connection,
            versions: Versions::default(),
        };
        broker.versions = broker.negotiate()?;
        if let Some(login) = &options.login {
            broker.log_in(login)?;
        }
        Ok(broker)
    }

    /// SaslHandshake, then the mechanism's messages in SaslAuthenticate requests.
    fn log_in(&mut self, login: &Login) -> Result<()> {
        let mechanism = login.mechanism.name();
        let handshake =
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism));
        let answer = self.call(
            self.version_at_least::<SaslHandshakeRequest>(1)?,
            &handshake,
        )?;
        let offered: Vec<&str> = answer.mechanisms.iter().map(|m| m.as_str()).collect();
        let offered = offered.join(", ");
        Error::check(answer.error_code, None, || {
            format!("SASL {mechanism} (the broker offers: {offered})")
        })?;
        let version = self.version::<SaslAuthenticateRequest>()?;
        let send = |broker: &mut Broker, bytes: Vec<u8>| -> Result<Bytes> {
            let request = SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes));
            let answer = broker.call(version, &request)?;
            Error::check(answer.error_code, answer.error_message.as_deref(), || {
                format!("SASL {mechanism} login as {}", login.username)
            })?;
            Ok(answer.auth_bytes)
        };
        match login.mechanism {
            Mechanism::Scram(scram) => {
                let (client, first) = ScramClient::first(scram, &login.username)
                    .map_err(|error| self.io_error(error))?;
                let server_first = send(self, first)?;
                let (last, expected) = client
                    .last(&server_first, &login.password)
                    .map_err(|message| self.protocol_error(message))?;
                if send(self, last)? != expected {
                    return Err(self.protocol_error(
                        "the broker's SCRAM signature is wrong: it does not hold this user's credential".to_string(),
                    ));
                }
            }
            _ => {
                let message = format!("\0{}\0{}", login.username, login.password);
                send(self, message.into_bytes())?;
            }
        }
        Ok(())
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// The version `R` goes out at, or an error naming the API the broker lacks.
    pub fn version<R: Request>(&self) -> Result<i16> {
        self.versions.pick(R::KEY, R::VERSIONS).ok_or_else(|| {
            self.protocol_error(format!(
                "the broker does not serve {} at any version this client speaks",
                api_name(R::KEY)
            ))
        })
    }

    /// Like `version`, but at least `min` (a field the caller relies on first appears there).
    pub fn version_at_least<R: Request>(&self, min: i16) -> Result<i16> {
        let version = self.version::<R>()?;
        if version < min {
            return Err(self.protocol_error(format!(
                "the broker serves {} only up to v{version}; this tool needs v{min} or newer",
                api_name(R::KEY)
            )));
        }
        Ok(version)
    }

    /// The raw connection, for callers that pipeline requests (the bench harness);
    /// `try_clone` it to read answers on another thread.
    pub fn connection(&mut self) -> &mut Connection {
        &mut self.connection
    }

    /// Sends `request` at `version` and waits for its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response> {
        let api = self.api_key::<R>()?;
        self.connection
            .call(api, version, request)
            .map_err(|source| self.io_error(source))
    }

    /// As `call`, for a request the broker may hold for up to `wait` (JoinGroup waits
    /// for a rebalance): reads wait that long, plus a margin, for this call only.
    pub fn call_waiting<R: Request>(
        &mut self,
        version: i16,
        request: &R,
        wait: Duration,
    ) -> Result<R::Response> {
        let usual = self
            .connection
            .read_timeout()
            .map_err(|e| self.io_error(e))?;
        let patient = usual.map(|t| t.max(wait + WAIT_MARGIN));
        self.connection
            .set_read_timeout(patient)
            .map_err(|e| self.io_error(e))?;
        let response = self.call(version, request);
        self.connection
            .set_read_timeout(usual)
            .map_err(|e| self.io_error(e))?;
        response
    }

    /// Sends `request` and expects no response (Produce with acks=0).
    pub fn send_only<R: Request>(&mut self, version: i16, request: &R) -> Result<()> {
        let api = self.api_key::<R>()?;
        self.connection
            .send(api, version, request)
            .map(|_| ())
            .map_err(|source| self.io_error(source))
    }

    fn api_key<R: Request>(&self) -> Result<ApiKey> {
        ApiKey::try_from(R::KEY)
            .map_err(|_| self.protocol_error(format!("unknown api key {}", R::KEY)))
    }

    /// ApiVersions at our newest version; a broker that does not know it answers with
    /// UNSUPPORTED_VERSION in the v0 layout, and we ask again at its newest.
    fn negotiate(&mut self) -> Result<Versions> {
        let ours = ApiVersionsRequest::VERSIONS.max;
        let response = self.api_versions(ours)?;
        if response.error_code != UNSUPPORTED_VERSION {
            Error::check(response.error_code, None, || {
                format!("{}: ApiVersions", self.address)
            })?;
            return Ok(Versions::from_response(&response));
        }
        let theirs = Versions::from_response(&response);
        let version = theirs
            .pick(ApiKey::ApiVersions as i16, ApiVersionsRequest::VERSIONS)
            .unwrap_or(0);
        let response = self.api_versions(version)?;
        Error::check(response.error_code, None, || {
            format!("{}: ApiVersions", self.address)
        })?;
        Ok(Versions::from_response(&response))
    }

    fn api_versions(&mut self, version: i16) -> Result<ApiVersionsResponse> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("shoal"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let api = ApiKey::ApiVersions;
        let sent = self
            .connection
            .send(api, version, &request)
            .map_err(|source| self.io_error(source))?;
        let mut frame = self
            .connection
            .receive_frame()
            .map_err(|source| self.io_error(source))?;
        let header = ResponseHeader::decode(&mut frame, api.response_header_version(version))
            .map_err(|error| self.protocol_error(format!("ApiVersions header: {error}")))?;
        if header.correlation_id != sent {
            return Err(self.protocol_error(format!(
                "correlation id {} in answer to {sent}",
                header.correlation_id
            )));
        }
        let code = (frame.len() >= 2).then(|| frame.clone().get_i16());
        let layout = if code == Some(UNSUPPORTED_VERSION) {
            0
        } else {
            version
        };
        ApiVersionsResponse::decode(&mut frame, layout)
            .map_err(|error| self.protocol_error(format!("ApiVersions v{layout}: {error}")))
    }

    fn io_error(&self, error: std::io::Error) -> Error {
        // read_exact's "failed to fill whole buffer" means the peer hung up mid-answer.
        let error = match error.kind() {
            std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the broker closed the connection",
            ),
            _ => error,
        };
        Error::Io {
            address: self.address.clone(),
            error,
        }
    }

    fn protocol_error(&self, message: String) -> Error {
        Error::Protocol {
            address: self.address.clone(),
            message,
        }
    }
}

/// `Metadata` for api key 3, as Kafka names its APIs.
fn api_name(key: i16) -> String {
    ApiKey::try_from(key)
        .map(|api| format!("{api:?}"))
        .unwrap_or_else(|_| format!("api key {key}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_highest_common_version() {
        assert_eq!(highest_common((0, 12), (0, 13)), Some(12));
        assert_eq!(highest_common((3, 9), (1, 10)), Some(9));
        assert_eq!(highest_common((4, 17), (4, 18)), Some(17));
        assert_eq!(highest_common((0, 2), (3, 9)), None);
        assert_eq!(highest_common((5, 9), (0, 4)), None);
        assert_eq!(highest_common((2, 2), (2, 2)), Some(2));
    }

    #[test]
    fn versions_unknown_api_is_none() {
        let versions = Versions::default();
        assert_eq!(versions.pick(3, VersionRange { min: 0, max: 13 }), None);
    }
}
