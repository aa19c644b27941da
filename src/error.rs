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
        StrBytes::from_string(
            self.message
                .unwrap_or_else(|| kafka_text(self.code).to_string()),
        )
    }
}

/// Kafka's own text for `error` (its `Errors` description), which Kafka puts in a
/// response's message where it has no more to say. An unknown code reads as Kafka's
/// UNKNOWN_SERVER_ERROR.
pub fn kafka_text(error: ResponseError) -> &'static str {
    match error {
        ResponseError::UnknownServerError => "The server experienced an unexpected error when processing the request.",
        ResponseError::OffsetOutOfRange => "The requested offset is not within the range of offsets maintained by the server.",
        ResponseError::CorruptMessage => "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.",
        ResponseError::UnknownTopicOrPartition => "This server does not host this topic-partition.",
        ResponseError::InvalidFetchSize => "The requested fetch size is invalid.",
        ResponseError::LeaderNotAvailable => "There is no leader for this topic-partition as we are in the middle of a leadership election.",
        ResponseError::NotLeaderOrFollower => "For requests intended only for the leader, this error indicates that the broker is not the current leader. For requests intended for any replica, this error indicates that the broker is not a replica of the topic partition.",
        ResponseError::RequestTimedOut => "The request timed out.",
        ResponseError::BrokerNotAvailable => "The broker is not available.",
        ResponseError::ReplicaNotAvailable => "The replica is not available for the requested topic-partition. Produce/Fetch requests and other requests intended only for the leader or follower return NOT_LEADER_OR_FOLLOWER if the broker is not a replica of the topic-partition.",
        ResponseError::MessageTooLarge => "The request included a message larger than the max message size the server will accept.",
        ResponseError::StaleControllerEpoch => "The controller moved to another broker.",
        ResponseError::OffsetMetadataTooLarge => "The metadata field of the offset request was too large.",
        ResponseError::NetworkException => "The server disconnected before a response was received.",
        ResponseError::CoordinatorLoadInProgress => "The coordinator is loading and hence can't process requests.",
        ResponseError::CoordinatorNotAvailable => "The coordinator is not available.",
        ResponseError::NotCoordinator => "This is not the correct coordinator.",
        ResponseError::InvalidTopicException => "The request attempted to perform an operation on an invalid topic.",
        ResponseError::RecordListTooLarge => "The request included message batch larger than the configured segment size on the server.",
        ResponseError::NotEnoughReplicas => "Messages are rejected since there are fewer in-sync replicas than required.",
        ResponseError::NotEnoughReplicasAfterAppend => "Messages are written to the log, but to fewer in-sync replicas than required.",
        ResponseError::InvalidRequiredAcks => "Produce request specified an invalid value for required acks.",
        ResponseError::IllegalGeneration => "Specified group generation id is not valid.",
        ResponseError::InconsistentGroupProtocol => "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.",
        ResponseError::InvalidGroupId => "The configured groupId is invalid.",
        ResponseError::UnknownMemberId => "The coordinator is not aware of this member.",
        ResponseError::InvalidSessionTimeout => "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).",
        ResponseError::RebalanceInProgress => "The group is rebalancing, so a rejoin is needed.",
        ResponseError::InvalidCommitOffsetSize => "The committing offset data size is not valid.",
        ResponseError::TopicAuthorizationFailed => "Topic authorization failed.",
        ResponseError::GroupAuthorizationFailed => "Group authorization failed.",
        ResponseError::ClusterAuthorizationFailed => "Cluster authorization failed.",
        ResponseError::InvalidTimestamp => "The timestamp of the message is out of acceptable range.",
        ResponseError::UnsupportedSaslMechanism => "The broker does not support the requested SASL mechanism.",
        ResponseError::IllegalSaslState => "Request is not valid given the current SASL state.",
        ResponseError::UnsupportedVersion => "The version of API is not supported.",
        ResponseError::TopicAlreadyExists => "Topic with this name already exists.",
        ResponseError::InvalidPartitions => "Number of partitions is below 1.",
        ResponseError::InvalidReplicationFactor => "Replication factor is below 1 or larger than the number of available brokers.",
        ResponseError::InvalidReplicaAssignment => "Replica assignment is invalid.",
        ResponseError::InvalidConfig => "Configuration is invalid.",
        ResponseError::NotController => "This is not the correct controller for this cluster.",
        ResponseError::InvalidRequest => "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker. See the broker logs for more details.",
        ResponseError::UnsupportedForMessageFormat => "The message format version on the broker does not support the request.",
        ResponseError::PolicyViolation => "Request parameters do not satisfy the configured policy.",
        ResponseError::OutOfOrderSequenceNumber => "The broker received an out of order sequence number.",
        ResponseError::DuplicateSequenceNumber => "The broker received a duplicate sequence number.",
        ResponseError::InvalidProducerEpoch => "Producer attempted to produce with an old epoch.",
        ResponseError::InvalidTxnState => "The producer attempted a transactional operation in an invalid state.",
        ResponseError::InvalidProducerIdMapping => "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
        ResponseError::InvalidTransactionTimeout => "The transaction timeout is larger than the maximum value allowed by the broker (as configured by transaction.max.timeout.ms).",
        ResponseError::ConcurrentTransactions => "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.",
        ResponseError::TransactionCoordinatorFenced => "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.",
        ResponseError::TransactionalIdAuthorizationFailed => "Transactional Id authorization failed.",
        ResponseError::SecurityDisabled => "Security features are disabled.",
        ResponseError::OperationNotAttempted => "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.",
        ResponseError::KafkaStorageError => "Disk error when trying to access log file on the disk.",
        ResponseError::LogDirNotFound => "The user-specified log directory is not found in the broker config.",
        ResponseError::SaslAuthenticationFailed => "SASL Authentication failed.",
        ResponseError::UnknownProducerId => "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question. This could happen if, for instance, the producer's records were deleted because their retention time had elapsed. Once the last records of the producerId are removed, the producer's metadata is removed from the broker, and future appends by the producer will return this exception.",
        ResponseError::ReassignmentInProgress => "A partition reassignment is in progress.",
        ResponseError::DelegationTokenAuthDisabled => "Delegation Token feature is not enabled.",
        ResponseError::DelegationTokenNotFound => "Delegation Token is not found on server.",
        ResponseError::DelegationTokenOwnerMismatch => "Specified Principal is not valid Owner/Renewer.",
        ResponseError::DelegationTokenRequestNotAllowed => "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.",
        ResponseError::DelegationTokenAuthorizationFailed => "Delegation Token authorization failed.",
        ResponseError::DelegationTokenExpired => "Delegation Token is expired.",
        ResponseError::InvalidPrincipalType => "Supplied principalType is not supported.",
        ResponseError::NonEmptyGroup => "The group is not empty.",
        ResponseError::GroupIdNotFound => "The group id does not exist.",
        ResponseError::FetchSessionIdNotFound => "The fetch session ID was not found.",
        ResponseError::InvalidFetchSessionEpoch => "The fetch session epoch is invalid.",
        ResponseError::ListenerNotFound => "There is no listener on the leader broker that matches the listener on which metadata request was processed.",
        ResponseError::TopicDeletionDisabled => "Topic deletion is disabled.",
        ResponseError::FencedLeaderEpoch => "The leader epoch in the request is older than the epoch on the broker.",
        ResponseError::UnknownLeaderEpoch => "The leader epoch in the request is newer than the epoch on the broker.",
        ResponseError::UnsupportedCompressionType => "The requesting client does not support the compression type of given partition.",
        ResponseError::StaleBrokerEpoch => "Broker epoch has changed.",
        ResponseError::OffsetNotAvailable => "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.",
        ResponseError::MemberIdRequired => "The group member needs to have a valid member id before actually entering a consumer group.",
        ResponseError::PreferredLeaderNotAvailable => "The preferred leader was not available.",
        ResponseError::GroupMaxSizeReached => "The consumer group has reached its max size.",
        ResponseError::FencedInstanceId => "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.",
        ResponseError::EligibleLeadersNotAvailable => "Eligible topic partition leaders are not available.",
        ResponseError::ElectionNotNeeded => "Leader election not needed for topic partition.",
        ResponseError::NoReassignmentInProgress => "No partition reassignment is in progress.",
        ResponseError::GroupSubscribedToTopic => "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.",
        ResponseError::InvalidRecord => "This record has failed the validation on broker and hence will be rejected.",
        ResponseError::UnstableOffsetCommit => "There are unstable offsets that need to be cleared.",
        ResponseError::ThrottlingQuotaExceeded => "The throttling quota has been exceeded.",
        ResponseError::ProducerFenced => "There is a newer producer with the same transactionalId which fences the current one.",
        ResponseError::ResourceNotFound => "A request illegally referred to a resource that does not exist.",
        ResponseError::DuplicateResource => "A request illegally referred to the same resource twice.",
        ResponseError::UnacceptableCredential => "Requested credential would not meet criteria for acceptability.",
        ResponseError::InconsistentVoterSet => "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters",
        ResponseError::InvalidUpdateVersion => "The given update version was invalid.",
        ResponseError::FeatureUpdateFailed => "Unable to update finalized features due to an unexpected server error.",
        ResponseError::PrincipalDeserializationFailure => "Request principal deserialization failed during forwarding. This indicates an internal error on the broker cluster security setup.",
        ResponseError::SnapshotNotFound => "Requested snapshot was not found",
        ResponseError::PositionOutOfRange => "Requested position is not greater than or equal to zero, and less than the size of the snapshot.",
        ResponseError::UnknownTopicId => "This server does not host this topic ID.",
        ResponseError::DuplicateBrokerRegistration => "This broker ID is already in use.",
        ResponseError::BrokerIdNotRegistered => "The given broker ID was not registered.",
        ResponseError::InconsistentTopicId => "The log's topic ID did not match the topic ID in the request",
        ResponseError::InconsistentClusterId => "The clusterId in the request does not match that found on the server",
        ResponseError::TransactionalIdNotFound => "The transactionalId could not be found",
        ResponseError::FetchSessionTopicIdError => "The fetch session encountered inconsistent topic ID usage",
        ResponseError::IneligibleReplica => "The new ISR contains at least one ineligible replica.",
        ResponseError::NewLeaderElected => "The AlterPartition request successfully updated the partition state but the leader has changed.",
        ResponseError::OffsetMovedToTieredStorage => "The requested offset is moved to tiered storage.",
        ResponseError::FencedMemberEpoch => "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.",
        ResponseError::UnreleasedInstanceId => "The instance ID is still used by another member in the consumer group. That member must leave first.",
        ResponseError::UnsupportedAssignor => "The assignor or its version range is not supported by the consumer group.",
        ResponseError::StaleMemberEpoch => "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.",
        ResponseError::MismatchedEndpointType => "The request was sent to an endpoint of the wrong type.",
        ResponseError::UnsupportedEndpointType => "This endpoint type is not supported yet.",
        ResponseError::UnknownControllerId => "This controller ID is not known.",
        ResponseError::UnknownSubscriptionId => "Client sent a push telemetry request with an invalid or outdated subscription ID.",
        ResponseError::TelemetryTooLarge => "Client sent a push telemetry request larger than the maximum size the broker will accept.",
        ResponseError::InvalidRegistration => "The controller has considered the broker registration to be invalid.",
        ResponseError::TransactionAbortable => "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.",
        ResponseError::InvalidRecordState => "The record state is invalid. The acknowledgement of delivery could not be completed.",
        ResponseError::ShareSessionNotFound => "The share session was not found.",
        ResponseError::InvalidShareSessionEpoch => "The share session epoch is invalid.",
        ResponseError::FencedStateEpoch => "The share coordinator rejected the request because the share-group state epoch did not match.",
        ResponseError::InvalidVoterKey => "The voter key doesn't match the receiving replica's key.",
        ResponseError::DuplicateVoter => "The voter is already part of the set of voters.",
        ResponseError::VoterNotFound => "The voter is not part of the set of voters.",
        ResponseError::InvalidRegularExpression => "The regular expression is not valid.",
        ResponseError::RebootstrapRequired => "Client metadata is stale, client should rebootstrap to obtain new metadata.",
        ResponseError::StreamsInvalidTopology => "The supplied topology is invalid.",
        ResponseError::StreamsInvalidTopologyEpoch => "The supplied topology epoch is invalid.",
        ResponseError::StreamsTopologyFenced => "The supplied topology epoch is outdated.",
        ResponseError::ShareSessionLimitReached => "The limit of share sessions has been reached.",
        ResponseError::Unknown(_) => "The server experienced an unexpected error when processing the request.",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_falls_back_to_kafka_s_own_text() {
        let refused = ApiError::code(ResponseError::ClusterAuthorizationFailed);
        assert_eq!(
            refused.message_or_default().as_str(),
            "Cluster authorization failed."
        );
        let said = ApiError::new(ResponseError::InvalidRequest, "why");
        assert_eq!(said.message_or_default().as_str(), "why");
        assert_eq!(
            kafka_text(ResponseError::Unknown(-77)),
            kafka_text(ResponseError::UnknownServerError)
        );
    }
}
