//! Kafka framing: request headers in, response frames out, and the zero-copy fetch
//! response encoder. Pure: no I/O, no async, no state.

pub mod codec;
pub mod fetch;
pub mod throttle;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// A name as Kafka's Java constants spell it: `UnknownTopicOrPartition` ->
/// `UNKNOWN_TOPIC_OR_PARTITION` (errors), `CreateTopics` -> `CREATE_TOPICS` (APIs).
pub fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// A request whose header was read; the body is decoded by its handler.
#[derive(Debug)]
pub struct Request {
    pub api_key: ApiKey,
    pub version: i16,
    pub header: RequestHeader,
    pub body: Bytes,
}

/// A producer's `acks`: how many replicas must have a batch before the leader answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// No answer at all.
    None,
    /// Answered once the leader has written the records.
    Leader,
    /// Answered once the records are durable (fdatasynced, unless `flush.ms` trades
    /// that away) and, with replication, held by every in-sync replica.
    All,
}

impl Acks {
    pub fn from_wire(acks: i16) -> Option<Acks> {
        match acks {
            0 => Some(Acks::None),
            1 => Some(Acks::Leader),
            -1 => Some(Acks::All),
            _ => None,
        }
    }

    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// A protocol string from a Rust one.
pub fn str_bytes(s: impl Into<String>) -> kafka_protocol::protocol::StrBytes {
    kafka_protocol::protocol::StrBytes::from_string(s.into())
}

/// Why a frame could not be taken as a request. Kafka closes the connection for each.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApi(i16),
    #[error("malformed request header: {0}")]
    BadHeader(String),
}

/// The fixed start of every request header, readable whatever the version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPrefix {
    pub api_key: i16,
    pub version: i16,
    pub correlation_id: i32,
}

pub fn header_prefix(frame: &[u8]) -> Result<HeaderPrefix, FrameError> {
    let mut bytes = frame;
    if bytes.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    Ok(HeaderPrefix {
        api_key: bytes.get_i16(),
        version: bytes.get_i16(),
        correlation_id: bytes.get_i32(),
    })
}

/// Reads the header of a request frame (the bytes after the length prefix). The
/// header's own version follows from the API and its version; versions outside the
/// supported range are read as the nearest one, so the caller can answer them.
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    let prefix = header_prefix(&frame)?;
    let api_key =
        ApiKey::try_from(prefix.api_key).map_err(|_| FrameError::UnknownApi(prefix.api_key))?;
    let range = api_key.valid_versions();
    let readable_version = prefix.version.clamp(range.min, range.max);
    let header_version = api_key.request_header_version(readable_version);
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| FrameError::BadHeader(e.to_string()))?;
    Ok(Request {
        api_key,
        version: prefix.version,
        header,
        body: frame,
    })
}

/// A whole response frame: length prefix, header of the right version, body.
pub fn encode_response<R: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    header.encode(&mut buf, api_key.response_header_version(version))?;
    body.encode(&mut buf, version)?;
    let length = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsRequest;
    use kafka_protocol::protocol::StrBytes;

    fn frame<R: Encodable>(api_key: ApiKey, version: i16, body: &R) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(api_key as i16)
            .with_request_api_version(version)
            .with_correlation_id(42)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        header
            .encode(&mut buf, api_key.request_header_version(version))
            .expect("header");
        body.encode(&mut buf, version).expect("body");
        buf.freeze()
    }

    #[test]
    fn reads_headers_of_flexible_and_old_versions() {
        for version in [0, 3] {
            let request = parse_request(frame(
                ApiKey::ApiVersions,
                version,
                &ApiVersionsRequest::default(),
            ))
            .expect("parses");
            assert_eq!(request.api_key, ApiKey::ApiVersions);
            assert_eq!(request.version, version);
            assert_eq!(request.header.correlation_id, 42);
            let body =
                ApiVersionsRequest::decode(&mut request.body.clone(), version).expect("body");
            assert_eq!(body, ApiVersionsRequest::default());
        }
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        assert!(matches!(
            parse_request(Bytes::from_static(&[0, 18])),
            Err(FrameError::TooShort(2))
        ));
        let unknown = Bytes::from_static(&[0x7f, 0x7f, 0, 0, 0, 0, 0, 1]);
        assert!(matches!(
            parse_request(unknown),
            Err(FrameError::UnknownApi(_))
        ));
        let cut = Bytes::from_static(&[0, 18, 0, 3, 0, 0, 0, 1, 0, 9]);
        assert!(matches!(parse_request(cut), Err(FrameError::BadHeader(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = parse_request(Bytes::from(bytes));
        }
    }
}
