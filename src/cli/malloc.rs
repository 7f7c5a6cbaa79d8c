//! The allocator's tuning for a long-running relay: glibc's malloc
//! thresholds, raised once at start-up (`serve`).
//!
//! Safe code only; must not be called per request.

/// Raises glibc's malloc thresholds the one way safe code can: freeing a
/// block that was mapped on its own moves the mmap threshold up to its size
/// and the trim threshold to twice that (mallopt(3), M_MMAP_THRESHOLD,
/// "dynamic adjustment").
///
/// With the defaults (128 KiB), the spool writer's every commit ended by
/// freeing the copies of its batch's bodies, finding more than 128 KiB free
/// at the top of its arena and handing it back with `madvise`, only to fault
/// it in again for the next batch: 8% of the relay's CPU at half load, plus
/// TLB flushes on the other cores. After this, up to 32 MiB free per arena is
/// kept for reuse. Other allocators just map and unmap 16 MiB once.
pub fn raise_thresholds() {
    // Zeroed (calloc: fresh mapped pages, not written) and seen by
    // `black_box`, so that the compiler cannot leave the allocation out.
    let mut block = vec![0u8; 16 << 20];
    std::hint::black_box(&mut block);
    drop(block);
}
