//! `vsva.bench`: figures vsva measures on itself for `cargo xtask bench`,
//! which boots it under QEMU `-icount shift=0`, where vsva's clock counts
//! instructions. Printed as tab-separated `figure` lines, once each.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::info;

/// Whether `vsva.bench` is on the command line.
pub static BENCH: AtomicBool = AtomicBool::new(false);

/// The cost of the first event poll that had nothing to deliver.
static IDLE_POLL: AtomicU64 = AtomicU64::new(0);
/// Whether the first delivering poll was reported.
static DELIVERY_REPORTED: AtomicBool = AtomicBool::new(false);

const HOW: &str = "QEMU -icount shift=0 (1 ns per instruction), vsva's clock";

fn bench_name() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "qemu-x86_64"
    } else {
        "qemu-aarch64"
    }
}

/// vsva's entry to the first guest instruction took `ns`.
pub fn first_guest(ns: u64) {
    if BENCH.load(Ordering::Relaxed) {
        info!(
            "figure\t{}\tvsva's entry to the first guest instruction\t{ns}\tinsns\t\t\t{HOW}",
            bench_name()
        );
    }
}

/// An event poll (units drained, faults routed, records written into the
/// rings, interrupts raised) took `ns`; `delivered`: it wrote a record. The
/// first one that did is reported, against the first one that had nothing
/// when there was one before it.
pub fn event_poll(ns: u64, delivered: bool) {
    if !BENCH.load(Ordering::Relaxed) {
        return;
    }
    if !delivered {
        let _ = IDLE_POLL.compare_exchange(0, ns.max(1), Ordering::Relaxed, Ordering::Relaxed);
        return;
    }
    if DELIVERY_REPORTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let what = "DMA fault record into the guest's ring (vsva's poll)";
    match IDLE_POLL.load(Ordering::Relaxed) {
        0 => info!("figure\t{}\t{what}\t{ns}\tinsns\t\t\t{HOW}", bench_name()),
        idle => info!(
            "figure\t{}\t{what}\t{ns}\tinsns\tan event poll with nothing pending\t{idle}\t{HOW}",
            bench_name()
        ),
    }
}
