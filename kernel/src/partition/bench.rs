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
/// rings, interrupts raised) took `ns`; `delivered`: it wrote a record;
/// `faults`: the blocked DMAs the units reported in it. The first one that
/// delivered is reported per fault, against the first one that had nothing
/// when there was one before it: how many faults a poll finds depends on
/// where the device's DMA stood when the slice ended (QEMU's SMMUv3 reports
/// every 4-byte access of a blocked write), which any change to vsva moves.
pub fn event_poll(ns: u64, delivered: bool, faults: usize) {
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
    let what = "DMA fault to its record in the guest's ring (vsva's poll, per fault)";
    let faults = faults.max(1) as u64;
    let per_fault = ns / faults;
    let how =
        "QEMU -icount shift=0 (1 ns per instruction), vsva's clock: the first delivering poll";
    match IDLE_POLL.load(Ordering::Relaxed) {
        0 => info!(
            "figure\t{}\t{what}\t{per_fault}\tinsns/fault\t\t\t{how}, {ns} in all, faults drained: {faults}",
            bench_name()
        ),
        idle => info!(
            "figure\t{}\t{what}\t{per_fault}\tinsns/fault\tan event poll with nothing pending\t{idle}\t{how}, {ns} in all, faults drained: {faults}",
            bench_name()
        ),
    }
}
