//! A request frame (the bytes after the length prefix), read as the broker reads it:
//! the header, then, for a version the broker serves, the body with kafka-protocol's
//! decoder, and a produce request's record batches with shoal's validation.
#![no_main]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use libfuzzer_sys::fuzz_target;
use shoal::protocol::parse_request;
use shoal::server::handlers::versions;
use shoal::storage::batch;

// As in the broker: a decoder sizing a Vec from a count on the wire gets address space,
// not memory (see src/alloc.rs).
#[global_allocator]
static ALLOCATOR: shoal::alloc::Allocator = shoal::alloc::Allocator;

fuzz_target!(|frame: &[u8]| {
    let Ok(request) = parse_request(Bytes::copy_from_slice(frame)) else {
        return;
    };
    if !versions(request.api_key).is_some_and(|v| v.contains(&request.version)) {
        return;
    }
    let mut body = request.body;
    let Ok(RequestKind::Produce(produce)) =
        RequestKind::decode(request.api_key, &mut body, request.version)
    else {
        return;
    };
    debug_assert_eq!(request.api_key, ApiKey::Produce);
    for topic in &produce.topic_data {
        for partition in &topic.partition_data {
            if let Some(records) = &partition.records {
                let _ = batch::validate(records, 1 << 20);
            }
        }
    }
});
