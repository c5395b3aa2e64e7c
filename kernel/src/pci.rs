//! PCI at boot: every function of every ECAM segment, its BARs (assigned from the
//! host bridge windows when no firmware did), and the IOMMU unit and StreamID /
//! source ID that translate its DMA.
#![deny(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use log::{info, warn};
use spin::Once;
use vsva_pci::{
    Bdf, BusRange, ConfigAccess, ConfigExt, EnumerationOptions, Function, assign_resources,
    enumerate,
};

use crate::arch::ecam::Ecam;
use crate::platform::{Platform, Scope, ScopeTarget};

/// One function and where its DMA goes.
#[derive(Debug, Clone)]
pub struct PciFunction {
    pub function: Function,
    /// Index into [`Platform::iommus`] of the unit that translates it.
    pub iommu: Option<usize>,
    /// The ID that unit sees: StreamID (SMMUv3) or source ID (VT-d).
    pub stream_id: Option<u32>,
    /// BARs no host bridge window had room for: their registers hold
    /// whatever they held (decoding stays off), so the function is never
    /// given to a partition.
    pub unplaced: Vec<u8>,
}

/// How a segment's configuration space is reached.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Ecam(Ecam),
    /// x86 configuration mechanism #1, when firmware describes no ECAM.
    #[cfg(target_arch = "x86_64")]
    PortIo(crate::arch::pci::PortIo),
}

impl ConfigAccess for Access {
    fn read32(&self, bdf: Bdf, offset: u16) -> u32 {
        match self {
            Access::Ecam(a) => a.read32(bdf, offset),
            #[cfg(target_arch = "x86_64")]
            Access::PortIo(a) => a.read32(bdf, offset),
        }
    }

    fn write32(&self, bdf: Bdf, offset: u16, value: u32) {
        match self {
            Access::Ecam(a) => a.write32(bdf, offset, value),
            #[cfg(target_arch = "x86_64")]
            Access::PortIo(a) => a.write32(bdf, offset, value),
        }
    }

    fn max_offset(&self) -> u16 {
        match self {
            Access::Ecam(a) => a.max_offset(),
            #[cfg(target_arch = "x86_64")]
            Access::PortIo(a) => a.max_offset(),
        }
    }
}

/// One enumerated segment: its access method and functions.
#[derive(Debug)]
pub struct Segment {
    pub segment: u16,
    pub access: Access,
    pub functions: Vec<PciFunction>,
}

/// Every segment found at boot.
pub static SEGMENTS: Once<Vec<Segment>> = Once::new();

/// Type-1 header: Secondary Bus Number (PCI-to-PCI Bridge Arch. 1.2 §3.2.5.4).
const SECONDARY_BUS: u16 = 0x19;
/// Type-1 header: Subordinate Bus Number.
const SUBORDINATE_BUS: u16 = 0x1a;

/// Follows a DMAR scope path through bridges (VT-d spec §8.3.1.1): each hop but
/// the last is a bridge whose secondary bus is where the next hop lives.
fn resolve_scope(cfg: &dyn ConfigAccess, scope: &Scope) -> Option<ScopeTarget> {
    let mut bus = scope.start_bus;
    let (last, hops) = scope.path.split_last()?;
    for &(device, function) in hops {
        let bridge = Bdf::new(bus, device, function)?;
        bus = cfg.read8(bridge, SECONDARY_BUS);
    }
    let target = Bdf::new(bus, last.0, last.1)?;
    let buses = (scope.kind == 2).then(|| {
        (
            cfg.read8(target, SECONDARY_BUS),
            cfg.read8(target, SUBORDINATE_BUS),
        )
    });
    Some(ScopeTarget {
        rid: target.rid(),
        buses,
    })
}

fn describe(f: &PciFunction, platform: &Platform) -> String {
    let func = &f.function;
    let mut line = format!(
        "{:04x}:{} {:04x}:{:04x} class {:02x}{:02x}{:02x}",
        func.segment,
        func.bdf,
        func.vendor_id,
        func.device_id,
        func.class.base,
        func.class.sub,
        func.class.prog_if
    );
    for bar in &func.bars {
        line.push_str(&format!(
            " BAR{} {:?}{} {:#x}+{:#x}",
            bar.index,
            bar.kind,
            if bar.prefetchable { " pf" } else { "" },
            bar.address,
            bar.size
        ));
    }
    match (f.iommu.and_then(|i| platform.iommus.get(i)), f.stream_id) {
        (Some(unit), Some(id)) => {
            line.push_str(&format!(" -> {:?}@{:#x} ID {id:#x}", unit.kind, unit.base));
        }
        _ => line.push_str(" -> no IOMMU"),
    }
    line
}

/// The segments to enumerate: every ECAM region; on x86 without one, segment 0
/// through port I/O.
fn accesses(platform: &Platform) -> Vec<(u16, BusRange, Access)> {
    let mut found = Vec::new();
    for window in &platform.ecam {
        let buses = BusRange {
            start: window.bus_start,
            end: window.bus_end,
        };
        match Ecam::map(window.base, buses) {
            Ok(a) => found.push((window.segment, buses, Access::Ecam(a))),
            Err(e) => warn!("PCI: cannot map ECAM of segment {}: {e:?}", window.segment),
        }
    }
    #[cfg(target_arch = "x86_64")]
    if found.is_empty() {
        warn!("PCI: no ECAM described; using port I/O (no extended capabilities)");
        let all = BusRange { start: 0, end: 255 };
        found.push((0, all, Access::PortIo(crate::arch::pci::PortIo)));
    }
    found
}

/// Enumerates every segment, assigns BARs from the DT windows when the platform
/// has them (no firmware ran), and routes each function.
pub fn init(platform: &Platform) -> &'static [Segment] {
    let mut segments = Vec::new();
    for (segment, buses, access) in accesses(platform) {
        let options = EnumerationOptions {
            segment,
            buses,
            assign_bus_numbers: true,
        };
        let mut found = enumerate(&access, &options);
        for skipped in &found.skipped {
            warn!("PCI: bridge not scanned: {skipped:?}");
        }
        let mut unplaced: Vec<(Bdf, u8)> = Vec::new();
        if !platform.windows.is_empty() {
            let report = assign_resources(&access, &mut found.functions, &platform.windows);
            unplaced.extend(report.failed.iter().filter_map(|&(bdf, r)| match r {
                vsva_pci::Resource::Bar(i) => Some((bdf, i)),
                _ => None,
            }));
            info!(
                "PCI: segment {}: assigned {} resources from the host bridge windows",
                segment,
                report.placed.len()
            );
            for (bdf, resource) in &report.failed {
                warn!("PCI: no room for {bdf} {resource:?}");
            }
        }
        // Functions not ready after a reset then answer with RRS instead of
        // the Root Port retrying in hardware (vsva_pci::reset polls for it).
        for f in found.functions.iter().filter(|f| f.is_bridge()) {
            if let Some(port) = vsva_pci::PciExpress::find(&access, f.bdf) {
                port.enable_rrs_visibility(&access);
            }
        }
        let resolve = |s: &Scope| resolve_scope(&access, s);
        let functions: Vec<PciFunction> = found
            .functions
            .into_iter()
            .map(|function| {
                let route = platform.route(function.segment, function.bdf.rid(), &resolve);
                PciFunction {
                    unplaced: unplaced
                        .iter()
                        .filter(|(b, _)| *b == function.bdf)
                        .map(|&(_, i)| i)
                        .collect(),
                    function,
                    iommu: route.map(|r| r.0),
                    stream_id: route.map(|r| r.1),
                }
            })
            .collect();
        info!("PCI: segment {segment}: {} functions", functions.len());
        for f in &functions {
            info!("  {}", describe(f, platform));
        }
        segments.push(Segment {
            segment,
            access,
            functions,
        });
    }
    SEGMENTS.call_once(|| segments)
}

/// The first function with this vendor and device ID, with its segment's access.
pub fn find(vendor: u16, device: u16) -> Option<(&'static Segment, &'static PciFunction)> {
    SEGMENTS.get()?.iter().find_map(|s| {
        let f = s
            .functions
            .iter()
            .find(|f| f.function.vendor_id == vendor && f.function.device_id == device)?;
        Some((s, f))
    })
}

/// The function at `bdf` of `segment`, with its segment's access.
pub fn find_bdf(segment: u16, bdf: Bdf) -> Option<(&'static Segment, &'static PciFunction)> {
    let s = SEGMENTS.get()?.iter().find(|s| s.segment == segment)?;
    Some((s, s.functions.iter().find(|f| f.function.bdf == bdf)?))
}
