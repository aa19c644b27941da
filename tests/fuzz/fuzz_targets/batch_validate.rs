//! Record batches as a producer sends them: shoal's validation, then, for each batch it
//! accepts, the bounded decoder (decompression included) the broker uses to read records.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::storage::{batch, decode};

#[global_allocator]
static ALLOCATOR: shoal::alloc::Allocator = shoal::alloc::Allocator;

fuzz_target!(|bytes: &[u8]| {
    let Ok(infos) = batch::validate(bytes, 1 << 20) else {
        return;
    };
    for info in infos {
        let one = &bytes[info.position..info.position + info.size];
        let _ = decode::decode(one);
    }
});
