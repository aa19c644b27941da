//! shoal: a Kafka-wire-compatible message broker, thread-per-core on io_uring.
//! See docs/ARCHITECTURE.md for the design every module follows.

pub mod storage;
