//! After `keep_large_buffers`, buffers the size of a product's activations are reused from the heap:
//! allocating, touching and freeing the same set again costs no page faults. With glibc's defaults the
//! same loop faults every page in again at every round (its trim threshold adapts to twice the largest
//! block freed, far below the set's total), which is what made every product pay the kernel.
//! Counted with getrusage, not timed. On glibc 2.36's defaults (the call below left out) this loop took
//! 65,440 faults, every page of every round; with it, none.

#[allow(unsafe_code)]
fn minor_faults() -> i64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_minflt
}

/// Allocate eight 8 MiB blocks (64 MiB: a ResNet20 product on 200 images holds more), write every
/// page, free them all.
fn one_round() {
    let blocks: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i + 1; 8 << 20]).collect();
    std::hint::black_box(&blocks);
}

fn main() {
    let setting = hessx_profile::allocator::keep_large_buffers();
    if setting != hessx_profile::allocator::AllocatorSetting::Fixed {
        println!(
            "allocator_reuse: skipped, the allocator thresholds are not set here ({setting:?})"
        );
        return;
    }
    one_round(); // the heap grows once
    let before = minor_faults();
    for _ in 0..4 {
        one_round();
    }
    let faults = minor_faults() - before;
    // 4 rounds of 64 MiB are 65,536 pages of 4 KiB; reuse leaves only the odd fault of the
    // bookkeeping around them.
    assert!(
        faults < 1_000,
        "{faults} page faults in 4 rounds of 64 MiB: the freed blocks were not reused"
    );
    println!("allocator_reuse: ok, {faults} page faults in 4 rounds of 64 MiB");
}
