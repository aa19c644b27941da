//! The client's errors: what failed, against which broker, with Kafka's error names, so a
//! tool can print one clear line.

use std::io;

use kafka_protocol::error::ResponseError;

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No TCP connection could be made (refused, unreachable, timed out, bad address).
    /// (`error` is not a `source`: the message already carries it, once.)
    #[error("cannot connect to {address}: {error}")]
    Connect { address: String, error: io::Error },
    /// The connection failed after it was made, or a frame could not be read or written.
    #[error("{address}: {error}")]
    Io { address: String, error: io::Error },
    /// The broker answered something this client cannot use (undecodable, no common version).
    #[error("{address}: {message}")]
    Protocol { address: String, message: String },
    /// The broker answered with a Kafka error code.
    #[error("{context}: {}", describe_code(*code, message.as_deref()))]
    Broker {
        context: String,
        code: i16,
        message: Option<String>,
    },
    /// The request cannot be made as asked (e.g. a topic that does not exist).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The Kafka error code, when the broker sent one.
    pub fn code(&self) -> Option<i16> {
        match self {
            Error::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// `Err(Broker)` for a non-zero code, so response checks read as one line each.
    pub fn check(code: i16, message: Option<&str>, context: impl FnOnce() -> String) -> Result<()> {
        if code == 0 {
            return Ok(());
        }
        Err(Error::Broker {
            context: context(),
            code,
            message: message.map(str::to_string),
        })
    }
}

/// Kafka's name for an error code, as its tools and logs print it: `UNKNOWN_TOPIC_OR_PARTITION`.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(code)) => format!("UNKNOWN_ERROR_CODE_{code}"),
        Some(error) => crate::protocol::screaming_snake(&format!("{error}")),
    }
}

/// Whether retrying the same request later may succeed (Kafka's RetriableException set).
pub fn is_retriable(code: i16) -> bool {
    ResponseError::try_from_code(code).is_some_and(|error| error.is_retriable())
}

/// `NAME` or `NAME: broker's message`.
fn describe_code(code: i16, message: Option<&str>) -> String {
    match message {
        Some(message) if !message.is_empty() => format!("{}: {message}", error_name(code)),
        _ => error_name(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(30000), "UNKNOWN_ERROR_CODE_30000");
    }

    #[test]
    fn broker_errors_read_as_one_line() {
        let error = Error::check(36, Some("Topic 't' already exists."), || {
            "cannot create topic 't'".into()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot create topic 't': TOPIC_ALREADY_EXISTS: Topic 't' already exists."
        );
        assert_eq!(error.code(), Some(36));
        let bare = Error::check(3, None, || "fetch t-0".into()).unwrap_err();
        assert_eq!(bare.to_string(), "fetch t-0: UNKNOWN_TOPIC_OR_PARTITION");
        assert!(Error::check(0, None, || unreachable!()).is_ok());
        assert!(is_retriable(6) && !is_retriable(10));
    }
}
