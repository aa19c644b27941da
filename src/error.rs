//! Kafka error codes for everything that can go wrong inside the broker, mapped in
//! one place (STYLE: precise errors per module, one mapping to the wire).

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use crate::partition::producers::ProducerError;
use crate::shard::ShardGone;
use crate::storage::{BatchError, StorageError};

/// An error to put in a response: the code a client acts on, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ResponseError,
    pub message: Option<String>,
    /// KIP-467: the records of a produced batch that were refused, each by its index in
    /// the batch, with why.
    pub record_errors: Vec<RecordError>,
}

/// One refused record of a produced batch (ProduceResponse v8+ `record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: Some(message.into()),
            record_errors: Vec::new(),
        }
    }

    pub fn code(code: ResponseError) -> ApiError {
        ApiError {
            code,
            message: None,
            record_errors: Vec::new(),
        }
    }

    pub fn wire_code(&self) -> i16 {
        self.code.code()
    }

    /// The message, or the error's own description when it has none (Kafka's
    /// `ApiError.messageWithFallback`, which some responses carry).
    pub fn message_or_default(self) -> StrBytes {
        StrBytes::from_string(self.message.unwrap_or_else(|| self.code.to_string()))
    }
}

impl From<ResponseError> for ApiError {
    fn from(code: ResponseError) -> ApiError {
        ApiError::code(code)
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> ApiError {
        let code = match error {
            StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            StorageError::OutOfOrder { .. } => ResponseError::UnknownServerError,
            StorageError::Io(_) | StorageError::Offline { .. } => ResponseError::KafkaStorageError,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<BatchError> for ApiError {
    fn from(error: BatchError) -> ApiError {
        let code = match error {
            BatchError::BadCrc { .. } | BatchError::Truncated { .. } | BatchError::BadLength(_) => {
                ResponseError::CorruptMessage
            }
            BatchError::TooLarge { .. } => ResponseError::MessageTooLarge,
            BatchError::BadMagic(_) | BatchError::Invalid(_) => ResponseError::InvalidRecord,
            BatchError::BadCompression(_) => ResponseError::UnsupportedCompressionType,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<ProducerError> for ApiError {
    fn from(error: ProducerError) -> ApiError {
        let code = match error {
            ProducerError::InvalidEpoch { .. } => ResponseError::InvalidProducerEpoch,
            ProducerError::OutOfOrder { .. } => ResponseError::OutOfOrderSequenceNumber,
            ProducerError::NotTransactional { .. } => ResponseError::InvalidTxnState,
            ProducerError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
        };
        ApiError::new(code, error.to_string())
    }
}

impl From<ShardGone> for ApiError {
    fn from(error: ShardGone) -> ApiError {
        ApiError::new(ResponseError::NotLeaderOrFollower, error.to_string())
    }
}

impl From<crate::config::ConfigError> for ApiError {
    fn from(error: crate::config::ConfigError) -> ApiError {
        ApiError::new(ResponseError::InvalidConfig, error.to_string())
    }
}
