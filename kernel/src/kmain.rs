//! From the boot path to a running kernel.
#![deny(unsafe_code)]

use core::fmt::Write;

use log::{error, info, warn};
use vsva_boot::{BootInfo, RegionKind};

use crate::arch;
use crate::cmdline::{self, Options};
use crate::exit::{ExitCode, exit};
use crate::mem::ranges::{Range, RangeSet};
use crate::mem::{self, Reservation, Size, Summary};

vsva_boot::entry_point!(kmain);

fn kmain(info: &'static BootInfo) -> ! {
    crate::BOOT_INFO.call_once(|| info);
    arch::console::init();
    let calibration = arch::time::init();
    arch::exceptions::init();
    let mut ignored: [&str; 8] = [""; 8];
    let mut n_ignored = 0;
    let options = cmdline::parse(arch::platform::cmdline(info), |w| {
        if let Some(slot) = ignored.get_mut(n_ignored) {
            *slot = w.0;
            n_ignored += 1;
        }
    });
    crate::logger::init(options.log_level);
    crate::iommu::SMMU_LINEAR.store(options.smmu_linear, core::sync::atomic::Ordering::Relaxed);
    crate::partition::BENCH.store(options.bench, core::sync::atomic::Ordering::Relaxed);
    {
        let mut c = arch::console::lock();
        let _ = writeln!(c);
        let _ = writeln!(c, "vsva {} - IOMMU hypervisor", env!("CARGO_PKG_VERSION"));
    }
    info!(
        "{} boot via {:?}, command line {:?}",
        arch::NAME,
        info.protocol,
        arch::platform::cmdline(info)
    );
    info!("clock: {:?}", calibration);
    for w in &ignored[..n_ignored] {
        warn!("command line: ignoring {w:?}");
    }
    match init_memory(info) {
        Ok(summary) => info!(
            "memory: {} usable, {} firmware-reserved, {} allocatable; heap {}",
            Size(summary.usable),
            Size(summary.firmware),
            Size(summary.allocatable),
            Size(mem::heap::stats().1 as u64),
        ),
        Err(e) => {
            error!("memory setup failed: {e}");
            exit(ExitCode::Crash);
        }
    }
    match crate::platform::discover(info) {
        Ok(platform) => {
            let platform = crate::platform::PLATFORM.call_once(|| platform);
            platform.log();
            #[cfg(target_arch = "aarch64")]
            init_gic(platform);
            crate::iommu::init(platform);
            crate::pci::init(platform);
        }
        // vsva still boots (and its tests run) without a platform description.
        Err(e) => error!("platform discovery failed: {e}"),
    }
    run(options)
}

/// Brings up the GICv3 firmware describes, so that drivers can use their
/// wired interrupts; without one they poll.
#[cfg(target_arch = "aarch64")]
fn init_gic(platform: &crate::platform::Platform) {
    let Some(g) = platform.gic else {
        warn!("no GICv3 described: device interrupts unavailable");
        return;
    };
    match arch::gic::init(g.distributor, g.redistributors, g.redistributors_len) {
        Ok(()) => info!(
            "GICv3 up: distributor {:#x}, {} interrupt lines, IRQs taken at EL2",
            g.distributor,
            arch::gic::lines()
        ),
        Err(e) => warn!("GICv3 bring-up failed: {e:?}; device interrupts unavailable"),
    }
}

#[cfg(feature = "ktest")]
fn run(options: Options<'_>) -> ! {
    crate::testing::run(&options)
}

#[cfg(not(feature = "ktest"))]
fn run(_options: Options<'_>) -> ! {
    // The partitions of the built-in manifest, until all have stopped (a
    // minute at most, so a run always ends).
    crate::partition::boot_manifest(60_000);
    info!("vsva is done; exiting");
    exit(ExitCode::Success)
}

/// Keeps the reservations before the heap exists.
struct Reservations {
    list: [Reservation; 16],
    len: usize,
}

impl Reservations {
    fn push(&mut self, r: Reservation) {
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = r;
            self.len += 1;
        } else {
            warn!(
                "too many reservations; {} at {:?} not kept out",
                r.what, r.range
            );
        }
    }
}

/// Discovers memory, sets up the heap and the frame allocator, and switches to
/// the kernel's own page tables.
fn init_memory(info: &'static BootInfo) -> Result<Summary, &'static str> {
    let regions = arch::platform::memory_regions(info);
    if regions.is_empty() {
        return Err("the boot loader gave no memory map");
    }
    info!("firmware memory map:");
    for r in regions {
        info!(
            "  {:#012x}-{:#012x} {:<16} {}",
            r.start,
            r.end(),
            alloc_free_kind(r.kind),
            Size(r.len)
        );
    }
    if info.regions_dropped > 0 {
        warn!(
            "{} memory map entries did not fit and were ignored",
            info.regions_dropped
        );
    }
    let image = mem::image::layout();
    info!(
        "kernel image {:#x}-{:#x} ({}): text {}, rodata {}, data+bss {}",
        image.start,
        image.end,
        Size(image.end - image.start),
        Size(image.text_end - image.start),
        Size(image.rodata_end - image.text_end),
        Size(image.end - image.rodata_end),
    );
    let empty = Reservation {
        what: "",
        range: Range::new(0, 0),
    };
    let mut reserved = Reservations {
        list: [empty; 16],
        len: 0,
    };
    reserved.push(Reservation {
        what: "kernel image",
        range: Range::new(image.start, image.end),
    });
    arch::platform::reservations(info, &mut |r| reserved.push(r));
    // RAM the partition manifest pins stays out of the allocator.
    let mut pinned = [None; 8];
    if let Ok(blob) = vsva_manifest::Blob::parse(crate::manifest::blob()) {
        let with_base = blob.partitions().filter_map(|p| Some((p.host_base()?, p)));
        for (slot, (base, p)) in pinned.iter_mut().zip(with_base) {
            let range = Range::new(base, base.saturating_add(p.memory()));
            // Only usable RAM nothing else has claimed (the image, the
            // loader's data, the device tree): never hand those to a guest.
            let usable = regions.iter().any(|r| {
                r.kind == RegionKind::Usable && r.start <= range.start && range.end <= r.end()
            });
            let taken = reserved.list[..reserved.len]
                .iter()
                .any(|r| r.range.start < range.end && range.start < r.range.end);
            if !usable || taken {
                warn!(
                    "partition '{}': pinned RAM {range:?} is not free usable RAM here; not kept",
                    p.name()
                );
                continue;
            }
            *slot = Some(range);
            reserved.push(Reservation {
                what: "partition RAM pinned by the manifest",
                range,
            });
        }
    }
    for r in &reserved.list[..reserved.len] {
        info!("  reserved {:?} {}", r.range, r.what);
    }
    let mut free = mem::allocatable(regions, &reserved.list[..reserved.len])
        .map_err(|_| "the memory map is too fragmented")?;

    // The buddy frame allocator keeps its lists on the heap: carve the heap first.
    let heap_size = (free.total() / 16).clamp(1 << 20, 32 << 20) & !(mem::PAGE_SIZE - 1);
    let heap = free
        .iter()
        .find(|r| r.len() >= heap_size)
        .map(|r| Range::new(r.start, r.start + heap_size))
        .ok_or("no free range is large enough for the heap")?;
    free.remove(heap)
        .map_err(|_| "the memory map is too fragmented")?;
    crate::arch::heap_init(heap);
    *mem::PINNED.lock() = pinned;
    *mem::FRAMES.lock() = Some(mem::frames::Frames::new(&free));
    mem::MANAGED.call_once(|| free.clone());
    let summary = mem::summarize(regions, &free);

    let mut ram = RangeSet::<{ mem::MAX_FREE_RANGES }>::new();
    for r in regions.iter().filter(|r| is_ram(r.kind)) {
        // Partial pages at the edges of RAM are still RAM.
        let start = r.start & !(mem::PAGE_SIZE - 1);
        let end = r.end().next_multiple_of(mem::PAGE_SIZE);
        ram.insert(Range::new(start, end))
            .map_err(|_| "the memory map is too fragmented")?;
    }
    arch::paging::init(ram.iter(), arch::platform::early_devices())
        .map_err(|_| "building the kernel page tables failed")?;
    info!(
        "paging: kernel page tables active, root at {:#x}",
        arch::paging::root()
    );
    Ok(summary)
}

fn is_ram(kind: RegionKind) -> bool {
    matches!(
        kind,
        RegionKind::Usable | RegionKind::AcpiReclaimable | RegionKind::AcpiNvs
    )
}

fn alloc_free_kind(kind: RegionKind) -> &'static str {
    match kind {
        RegionKind::Usable => "usable",
        RegionKind::Reserved => "reserved",
        RegionKind::AcpiReclaimable => "ACPI tables",
        RegionKind::AcpiNvs => "ACPI NVS",
        RegionKind::Unusable => "unusable",
        RegionKind::Persistent => "persistent",
    }
}
