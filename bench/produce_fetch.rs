//! Produce and fetch throughput against a running Kafka-compatible broker.
//!
//!     cargo bench --bench produce_fetch -- --bootstrap 127.0.0.1:9092 [--seconds 10]
//!         [--partitions 8] [--connections 4] [--record-bytes 1024] [--batch-records 64]
//!         [--in-flight 8] [--acks -1]
//!
//! Produce: each connection pipelines `in-flight` Produce requests of one batch each
//! (uncompressed, `batch-records` records of `record-bytes`) for `seconds`, round-robin
//! over the partitions; throughput counts acknowledged record bytes. Fetch: then reads
//! every partition back from offset 0 (the log is warm in the page cache) and counts
//! the bytes of records received. Prints one JSON line with both results.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;
use shoal::client::records::{encode_batch as encode_batch_of, NewRecord};
use shoal::client::Connection;
use shoal::storage::batch;

const PRODUCE_VERSION: i16 = 9;
const FETCH_VERSION: i16 = 12;

struct Options {
    bootstrap: String,
    seconds: u64,
    partitions: i32,
    connections: usize,
    record_bytes: usize,
    batch_records: usize,
    in_flight: usize,
    acks: i16,
}

fn main() -> anyhow::Result<()> {
    let options = parse()?;
    let topic = format!("bench-{}", std::process::id());
    create_topic(&options, &topic)?;
    let batch = encode_batch(options.batch_records, options.record_bytes)?;
    let started = Instant::now();
    let producers: Vec<_> = (0..options.connections)
        .map(|c| {
            let (bootstrap, topic, batch) =
                (options.bootstrap.clone(), topic.clone(), batch.clone());
            let (partitions, in_flight, acks, seconds, connections) = (
                options.partitions,
                options.in_flight,
                options.acks,
                options.seconds,
                options.connections,
            );
            std::thread::spawn(move || {
                let partitions: Vec<i32> = (0..partitions)
                    .filter(|p| *p as usize % connections == c)
                    .collect();
                produce(
                    &bootstrap,
                    &topic,
                    &partitions,
                    &batch,
                    in_flight,
                    acks,
                    Duration::from_secs(seconds),
                )
            })
        })
        .collect();
    let mut batches = 0u64;
    for producer in producers {
        batches += producer
            .join()
            .map_err(|_| anyhow::anyhow!("a producer panicked"))??;
    }
    let produce_seconds = started.elapsed().as_secs_f64();
    let produced_bytes = batches * (options.batch_records * options.record_bytes) as u64;
    let started = Instant::now();
    let fetchers: Vec<_> = (0..options.connections)
        .map(|c| {
            let (bootstrap, topic) = (options.bootstrap.clone(), topic.clone());
            let (partitions, connections) = (options.partitions, options.connections);
            std::thread::spawn(move || {
                let partitions: Vec<i32> = (0..partitions)
                    .filter(|p| *p as usize % connections == c)
                    .collect();
                fetch_all(&bootstrap, &topic, &partitions)
            })
        })
        .collect();
    let mut fetched_bytes = 0u64;
    for fetcher in fetchers {
        fetched_bytes += fetcher
            .join()
            .map_err(|_| anyhow::anyhow!("a fetcher panicked"))??;
    }
    let fetch_seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"produce_mb_per_s\":{:.1},\"produce_records_per_s\":{:.0},\"fetch_mb_per_s\":{:.1},\"record_bytes\":{},\"acks\":{},\"partitions\":{},\"connections\":{},\"batch_records\":{},\"in_flight\":{}}}",
        produced_bytes as f64 / produce_seconds / 1e6,
        (batches * options.batch_records as u64) as f64 / produce_seconds,
        fetched_bytes as f64 / fetch_seconds / 1e6,
        options.record_bytes,
        options.acks,
        options.partitions,
        options.connections,
        options.batch_records,
        options.in_flight,
    );
    Ok(())
}

fn parse() -> anyhow::Result<Options> {
    let mut options = Options {
        bootstrap: "127.0.0.1:9092".into(),
        seconds: 10,
        partitions: 8,
        connections: 4,
        record_bytes: 1024,
        batch_records: 64,
        in_flight: 8,
        acks: -1,
    };
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    for pair in args.chunks(2) {
        let [flag, value] = pair else {
            anyhow::bail!("flags take a value: {pair:?}")
        };
        match flag.as_str() {
            "--bootstrap" => options.bootstrap = value.clone(),
            "--seconds" => options.seconds = value.parse()?,
            "--partitions" => options.partitions = value.parse()?,
            "--connections" => options.connections = value.parse()?,
            "--record-bytes" => options.record_bytes = value.parse()?,
            "--batch-records" => options.batch_records = value.parse()?,
            "--in-flight" => options.in_flight = value.parse()?,
            "--acks" => options.acks = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    Ok(options)
}

fn create_topic(options: &Options, topic: &str) -> anyhow::Result<()> {
    let mut connection = Connection::connect(&options.bootstrap, "shoal-bench")?;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(options.partitions)
            .with_replication_factor(1)]);
    let response: CreateTopicsResponse = connection.call(ApiKey::CreateTopics, 5, &request)?;
    let code = response.topics.first().map_or(-1, |t| t.error_code);
    anyhow::ensure!(code == 0, "creating {topic} failed with error {code}");
    Ok(())
}

fn encode_batch(records: usize, record_bytes: usize) -> anyhow::Result<Bytes> {
    let timestamp = shoal::shard::now_ms();
    let records: Vec<NewRecord> = (0..records)
        .map(|i| NewRecord {
            key: None,
            value: Some(Bytes::from(
                (0..record_bytes)
                    .map(|b| (b * 31 + i) as u8)
                    .collect::<Vec<u8>>(),
            )),
            timestamp,
            headers: Vec::new(),
        })
        .collect();
    encode_batch_of(&records, Compression::None)
}

/// Pipelines produce requests for `duration`; returns the batches acknowledged.
fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: &[i32],
    batch: &Bytes,
    in_flight: usize,
    acks: i16,
    duration: Duration,
) -> anyhow::Result<u64> {
    anyhow::ensure!(!partitions.is_empty(), "more connections than partitions");
    let mut connection = Connection::connect(bootstrap, "shoal-bench")?;
    let request = |partition: i32| {
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.clone()))])])
    };
    let deadline = Instant::now() + duration;
    let (mut sent, mut acked, mut next) = (0u64, 0u64, 0usize);
    while Instant::now() < deadline || acked < sent {
        while Instant::now() < deadline && sent - acked < in_flight as u64 {
            connection.send(
                ApiKey::Produce,
                PRODUCE_VERSION,
                &request(partitions[next % partitions.len()]),
            )?;
            next += 1;
            sent += 1;
        }
        let (_, response): (i32, ProduceResponse) =
            connection.receive(ApiKey::Produce, PRODUCE_VERSION)?;
        for partition in response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
        {
            anyhow::ensure!(
                partition.error_code == 0,
                "produce failed with error {}",
                partition.error_code
            );
        }
        acked += 1;
    }
    Ok(acked)
}

/// Reads `partitions` from offset 0 to their ends; returns record bytes received.
fn fetch_all(bootstrap: &str, topic: &str, partitions: &[i32]) -> anyhow::Result<u64> {
    let mut connection = Connection::connect(bootstrap, "shoal-bench")?;
    let mut offsets: Vec<i64> = vec![0; partitions.len()];
    let mut ends: Vec<Option<i64>> = vec![None; partitions.len()];
    let mut bytes = 0u64;
    while ends
        .iter()
        .zip(&offsets)
        .any(|(end, offset)| end.is_none_or(|end| *offset < end))
    {
        let wanted = partitions
            .iter()
            .zip(&offsets)
            .map(|(p, offset)| {
                FetchPartition::default()
                    .with_partition(*p)
                    .with_fetch_offset(*offset)
                    .with_partition_max_bytes(8 << 20)
            })
            .collect();
        let request = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(wanted)]);
        let response: FetchResponse = connection.call(ApiKey::Fetch, FETCH_VERSION, &request)?;
        for partition in response.responses.iter().flat_map(|t| &t.partitions) {
            anyhow::ensure!(
                partition.error_code == 0,
                "fetch failed with error {}",
                partition.error_code
            );
            let Some(i) = partitions
                .iter()
                .position(|p| *p == partition.partition_index)
            else {
                anyhow::bail!(
                    "fetch answered for partition {} not asked for",
                    partition.partition_index
                );
            };
            ends[i] = Some(partition.high_watermark);
            let records = partition.records.clone().unwrap_or_default();
            batch::walk(&records, false, |_, header| {
                offsets[i] = header.last_offset() + 1;
                bytes += header.total_size().unwrap_or(0) as u64;
            });
        }
    }
    Ok(bytes)
}
