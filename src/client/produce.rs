//! Produce: encoded batches for partitions of one topic, sent to their leader in one
//! request. Retrying and routing are the caller's (it knows the leaders).

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::broker::Broker;
use super::error::{Error, Result};

/// Produce v13 names topics by id only.
const PRODUCE_TOPIC_ID_VERSION: i16 = 13;

pub use crate::protocol::Acks;

/// The leader's answer for one partition.
#[derive(Debug, Clone)]
pub struct PartitionAck {
    pub partition: i32,
    pub error_code: i16,
    pub error_message: Option<String>,
    /// The offset given to the batch's first record (-1 on error).
    pub base_offset: i64,
}

/// Sends one batch per partition to `broker` (their leader). With `Acks::None` the broker
/// sends nothing back and the result is empty.
pub fn produce(
    broker: &mut Broker,
    topic: &str,
    topic_id: Uuid,
    batches: Vec<(i32, Bytes)>,
    acks: Acks,
    timeout_ms: i32,
) -> Result<Vec<PartitionAck>> {
    let mut version = broker.version::<ProduceRequest>()?;
    if topic_id.is_nil() {
        version = version.min(PRODUCE_TOPIC_ID_VERSION - 1);
    }
    let partitions: Vec<i32> = batches.iter().map(|(p, _)| *p).collect();
    let request = ProduceRequest::default()
        .with_acks(acks.wire())
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_topic_id(topic_id)
            .with_partition_data(
                batches
                    .into_iter()
                    .map(|(index, records)| {
                        PartitionProduceData::default()
                            .with_index(index)
                            .with_records(Some(records))
                    })
                    .collect(),
            )]);
    if acks == Acks::None {
        broker.send_only(version, &request)?;
        return Ok(Vec::new());
    }
    let response = broker.call(version, &request)?;
    let answered: Vec<PartitionAck> = response
        .responses
        .iter()
        .filter(|t| t.name.0.as_str() == topic || (!topic_id.is_nil() && t.topic_id == topic_id))
        .flat_map(|t| t.partition_responses.iter())
        .map(|p| PartitionAck {
            partition: p.index,
            error_code: p.error_code,
            error_message: p.error_message.as_ref().map(|m| m.to_string()),
            base_offset: p.base_offset,
        })
        .collect();
    for partition in &partitions {
        if !answered.iter().any(|a| a.partition == *partition) {
            return Err(Error::Protocol {
                address: broker.address().to_string(),
                message: format!("Produce response does not mention {topic}-{partition}"),
            });
        }
    }
    Ok(answered)
}
