//! A partition directory after a crash: the input, cut in two at a point its first byte
//! picks, is the first segment and the last one. The log is opened (recovered), then
//! read whole. Whatever the bytes, opening and reading never panic, and every batch a
//! read serves is whole and passes its CRC: damage is cut away or refused, never served.
#![no_main]

use std::cell::RefCell;

use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use libfuzzer_sys::fuzz_target;
use shoal::storage::batch::{self, WalkEnd};
use shoal::storage::{segment_file_name, Log, LogConfig};

#[global_allocator]
static ALLOCATOR: shoal::alloc::Allocator = shoal::alloc::Allocator;

thread_local! {
    // One executor (one io_uring) for every input.
    static EXECUTOR: RefCell<LocalExecutor> = RefCell::new(
        LocalExecutorBuilder::new(Placement::Unbound).make().expect("executor"),
    );
}

/// The base offset of the last segment, when the input has two.
const SECOND_BASE: i64 = 1_000;

fuzz_target!(|input: &[u8]| {
    let Some((&cut, bytes)) = input.split_first() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cut = (usize::from(cut) * bytes.len() / 255).min(bytes.len());
    let (first, second) = bytes.split_at(cut);
    std::fs::write(dir.path().join(segment_file_name(0, "log")), first).unwrap();
    if !second.is_empty() {
        std::fs::write(
            dir.path().join(segment_file_name(SECOND_BASE, "log")),
            second,
        )
        .unwrap();
    }
    EXECUTOR.with(|executor| {
        executor.borrow().run(async {
            let config = LogConfig::default();
            let Ok(log) = Log::open(dir.path(), config, 0).await else {
                return;
            };
            let mut from = log.start_offset();
            while let Ok(Some(slice)) = log.read(from, 1 << 20, i64::MAX).await {
                let served = slice
                    .file
                    .read_at(slice.position, slice.length as usize)
                    .await
                    .expect("a served slice is readable");
                let mut next = None;
                let end = batch::walk(&served, true, |_, header| {
                    next = Some(header.last_offset().saturating_add(1));
                });
                // A read may end inside its last batch (KIP-74), never at a bad one.
                assert!(
                    !matches!(end, WalkEnd::Corrupt(_)),
                    "a corrupt batch was served"
                );
                match next {
                    Some(next) if next > from => from = next,
                    _ => break,
                }
            }
        })
    });
});
