//! `bench`: what vsva's calls cost this guest, for `cargo xtask bench`,
//! which boots it under QEMU `-icount shift=0` (QEMU's virtual clock then
//! advances one nanosecond per instruction, so the guest's counter, read in
//! nanoseconds, counts the instructions of the guest and of vsva on its
//! behalf, the same in every run). Each figure is printed as a
//! tab-separated `figure` line: bench, what, value, unit, baseline, its
//! value, how.

use vsva_abi::BootInfo;
use vsva_abi::sva::InvalidateEntry;
use vsva_guest::HvError;
use vsva_guest::sva::events::{self as sva_events, EventKind, EventRing, EventRingMemory};
use vsva_guest::sva::{self, DeviceId, SvaCaps, SvaInfoExt, entry};

use super::events::{EVENT_INTID, next_record};
use super::{DeviceTable, GVA_DST, GVA_SRC, Pages, check, device};
use crate::arch;
use crate::guest::{edu, edu_dma_yielding};

static RING: EventRingMemory<8> = EventRingMemory::new();

/// Repetitions of each measured call.
const CALLS: u64 = 64;
/// A 2 MiB-aligned guest-virtual range the device table maps page by page.
const GVA_RANGE: u64 = GVA_SRC + 0x20_0000;
const PAGES: u64 = 512;
const HOW: &str = "QEMU -icount shift=0 (1 ns per instruction), guest counter over 64 calls";

fn bench_name() -> &'static str {
    if cfg!(target_arch = "x86_64") {
        "qemu-x86_64"
    } else {
        "qemu-aarch64"
    }
}

/// Instructions per call of `f`, averaged over `calls`.
fn per_call(calls: u64, mut f: impl FnMut()) -> u64 {
    let start = arch::counter_ns();
    for _ in 0..calls {
        f();
    }
    arch::counter_ns().wrapping_sub(start) / calls
}

fn figure(what: &str, value: u64, unit: &str, baseline: Option<(&str, u64)>) {
    let bench = bench_name();
    match baseline {
        Some((name, base)) => {
            say!("figure\t{bench}\t{what}\t{value}\t{unit}\t{name}\t{base}\t{HOW}")
        }
        None => say!("figure\t{bench}\t{what}\t{value}\t{unit}\t\t\t{HOW}"),
    }
}

fn invalidate(entries: &[InvalidateEntry]) {
    check(
        "Invalidate",
        sva::invalidate(entries).map_err(HvError::from),
    );
}

/// The page entries of the first `n` pages of the range.
fn page_entries<const N: usize>(device: DeviceId) -> [InvalidateEntry; N] {
    core::array::from_fn(|i| {
        entry::iotlb_range(device, None, GVA_RANGE + 0x1000 * i as u64, 0x1000, true)
    })
}

/// `bench`: a null hypercall, then each vSVA call on edu.
pub fn run(info: &BootInfo) {
    let null = per_call(CALLS, || {
        let _ = vsva_guest::version();
    });
    let base = Some(("null hypercall", null));
    figure("null hypercall (Version)", null, "insns/call", None);

    let (bar, dev, si) = device(info);
    let query = per_call(CALLS, || {
        let _ = sva::info(dev);
    });
    figure("SvaInfo (capability query)", query, "insns/call", base);
    let pasids = per_call(CALLS, || {
        if let Ok(p) = sva::pasid_alloc() {
            let _ = sva::pasid_free(p);
        }
    });
    figure("PasidAlloc + PasidFree", pasids, "insns/call", base);
    if !si.caps().contains(SvaCaps::BIND) {
        say!("bench: edu takes no binds here; the bind and invalidation figures are missing");
        return;
    }

    let mut pages = Pages::new(info);
    let table = DeviceTable::new(&mut pages);
    let data = pages.page();
    for i in 0..PAGES {
        table.map(&mut pages, GVA_RANGE + 0x1000 * i, data);
    }
    // edu's source for the DMA fault below; its destination stays a hole.
    table.map(&mut pages, GVA_SRC, data);
    let stage1 = table.stage1();
    let binds = per_call(CALLS / 4, || {
        check("BindStage1", sva::bind_stage1(dev, None, &stage1));
        check("UnbindStage1", sva::unbind_stage1(dev, None));
    });
    figure(
        "BindStage1 + UnbindStage1 (512 pages)",
        binds,
        "insns/call",
        base,
    );

    check("BindStage1", sva::bind_stage1(dev, None, &stage1));
    let one: [InvalidateEntry; 1] = page_entries(dev);
    let single = per_call(CALLS, || invalidate(&one));
    figure("Invalidate, 1 entry (4 KiB)", single, "insns/entry", base);
    let sixteen: [InvalidateEntry; 16] = page_entries(dev);
    let batch16 = per_call(CALLS, || invalidate(&sixteen)) / 16;
    let per_single = Some(("Invalidate, 1 entry", single));
    figure("Invalidate, 16 entries", batch16, "insns/entry", per_single);
    let many: [InvalidateEntry; 256] = page_entries(dev);
    let batch256 = per_call(CALLS / 4, || invalidate(&many)) / 256;
    figure(
        "Invalidate, 256 entries",
        batch256,
        "insns/entry",
        per_single,
    );
    let range = [entry::iotlb_range(dev, None, GVA_RANGE, 0x20_0000, false)];
    let whole = per_call(CALLS / 4, || invalidate(&range));
    figure(
        "Invalidate, one 2 MiB range",
        whole,
        "insns/call",
        per_single,
    );
    dma_fault(bar);
    check("UnbindStage1", sva::unbind_stage1(dev, None));
    say!("bench: done");
}

/// edu writes into a hole of the bound table and the guest waits for the
/// record: vsva reports the poll that writes it (`vsva.bench`), which the
/// guest's counter cannot separate from edu's 100 ms DMA timer.
fn dma_fault(bar: u64) {
    let mut ring = check("EventQueue", EventRing::register(&RING, EVENT_INTID));
    arch::enable_interrupts();
    // Under -icount edu's 100 ms pass as ~100 million instructions.
    edu_dma_yielding(bar, (GVA_SRC, edu::BUFFER), false, 1_000_000);
    edu_dma_yielding(bar, (edu::BUFFER, GVA_DST), true, 1_000_000);
    match next_record(&mut ring) {
        Some(r) if r.kind == EventKind::Fault as u16 && r.address & !0xfff == GVA_DST => {
            say!("bench: the DMA fault's record came");
        }
        _ => say!("bench: no record of the DMA fault came"),
    }
    let _ = check("EventQueue", sva_events::unregister_events());
}
