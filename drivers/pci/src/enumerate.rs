//! Enumeration of the functions of one segment, following PCI-to-PCI bridges
//! and numbering unconfigured ones (PCI-to-PCI Bridge Architecture
//! Specification 1.2 §3.2.5.3 - §3.2.5.5; PCIe Base Specification §7.5.1.3).

use alloc::vec::Vec;

use crate::access::{ConfigAccess, ConfigExt};
use crate::bar::{Bar, BarError, read_bars};
use crate::capability::{Capability, ExtendedCapability, capabilities, extended_capabilities};
use crate::header::{ABSENT_VENDOR_ID, ClassCode, HeaderLayout, HeaderType, offset};
use crate::{Bdf, BusRange};

/// The bus numbers of a Type 1 header (offsets 0x18 - 0x1a).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BridgeBuses {
    /// Primary Bus Number: the bus the bridge sits on.
    pub primary: u8,
    /// Secondary Bus Number: the bus directly behind it (0: unconfigured).
    pub secondary: u8,
    /// Subordinate Bus Number: the highest bus behind it.
    pub subordinate: u8,
}

impl BridgeBuses {
    /// Decodes the dword at 0x18 (Secondary Latency Timer in bits 31:24 ignored).
    const fn decode(dword: u32) -> Self {
        Self {
            primary: dword as u8,
            secondary: (dword >> 8) as u8,
            subordinate: (dword >> 16) as u8,
        }
    }

    /// The dword at 0x18 with this numbering and `latency_timer` in bits 31:24.
    const fn encode(self, latency_timer: u8) -> u32 {
        u32::from_le_bytes([
            self.primary,
            self.secondary,
            self.subordinate,
            latency_timer,
        ])
    }

    /// Reads the bus numbers of bridge `bdf`.
    pub fn read<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Self {
        Self::decode(cfg.read32(bdf, offset::PRIMARY_BUS_NUMBER))
    }

    /// Programs the bus numbers of bridge `bdf`, keeping its Secondary Latency Timer.
    pub fn write<A: ConfigAccess + ?Sized>(self, cfg: &A, bdf: Bdf) {
        let latency = cfg.read8(bdf, offset::SECONDARY_LATENCY_TIMER);
        cfg.write32(bdf, offset::PRIMARY_BUS_NUMBER, self.encode(latency));
    }
}

/// One function found by [`enumerate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Function {
    /// PCI segment (the one given in [`EnumerationOptions`]).
    pub segment: u16,
    /// Bus/device/function.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class Code.
    pub class: ClassCode,
    /// Revision ID.
    pub revision: u8,
    /// Header Type (multi-function bit as read from this function).
    pub header_type: HeaderType,
    /// Implemented BARs, decoded and sized.
    pub bars: Vec<Bar>,
    /// BARs that could not be decoded.
    pub bar_errors: Vec<BarError>,
    /// Standard capability list.
    pub capabilities: Vec<Capability>,
    /// Extended capability list (empty with 256-byte access).
    pub extended_capabilities: Vec<ExtendedCapability>,
    /// Bus numbers, for a Type 1 header, after enumeration.
    pub bridge: Option<BridgeBuses>,
    /// The bridge this function is behind; `None` on the root bus.
    pub parent: Option<Bdf>,
}

impl Function {
    /// Whether it has a Type 1 (PCI-to-PCI bridge) header.
    pub fn is_bridge(&self) -> bool {
        self.header_type.layout() == HeaderLayout::Type1
    }

    /// The BAR numbered `index`.
    pub fn bar(&self, index: u8) -> Option<&Bar> {
        self.bars.iter().find(|b| b.index == index)
    }
}

/// What [`enumerate`] scans.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnumerationOptions {
    /// The segment `cfg` accesses (reported in each [`Function`]).
    pub segment: u16,
    /// Bus numbers the host bridge decodes; `start` is the root bus.
    pub buses: BusRange,
    /// Number bridges whose Secondary Bus Number is 0 (no firmware did).
    pub assign_bus_numbers: bool,
}

/// Why a bridge's secondary side was not scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The secondary bus was already scanned: the topology has a loop.
    AlreadyVisited,
    /// The secondary bus is not above the bridge's own bus.
    SecondaryNotAbove,
    /// The secondary or subordinate bus is outside the segment's bus range,
    /// or outside the range of the bridge above.
    OutsideRange,
    /// Unconfigured, and no free bus number is left for it (for a bridge
    /// behind a firmware-numbered bridge: none inside that bridge's range).
    NoBusNumberLeft,
    /// Unconfigured, and [`EnumerationOptions::assign_bus_numbers`] is off.
    Unconfigured,
}

/// A bridge whose secondary side [`enumerate`] did not scan (also logged as a warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SkippedBridge {
    /// The bridge.
    pub bridge: Bdf,
    /// Its bus numbers as read.
    pub buses: BridgeBuses,
    /// Why.
    pub reason: SkipReason,
}

/// The result of [`enumerate`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enumeration {
    /// Every function found, depth-first (a bridge before what is behind it).
    pub functions: Vec<Function>,
    /// Bridges whose secondary side was not scanned.
    pub skipped: Vec<SkippedBridge>,
}

impl Enumeration {
    /// The function at `bdf`.
    pub fn function(&self, bdf: Bdf) -> Option<&Function> {
        self.functions.iter().find(|f| f.bdf == bdf)
    }
}

/// A set of bus numbers.
#[derive(Clone, Debug, Default)]
struct BusSet([u64; 4]);

impl BusSet {
    /// Marks `bus`; false when it was already marked.
    fn insert(&mut self, bus: u8) -> bool {
        let (word, bit) = (usize::from(bus / 64), bus % 64);
        let was = self.0[word] & (1 << bit) != 0;
        self.0[word] |= 1 << bit;
        !was
    }

    fn contains(&self, bus: u8) -> bool {
        self.0[usize::from(bus / 64)] & (1 << (bus % 64)) != 0
    }
}

/// Scans every function of the segment reachable from `options.buses.start`.
///
/// On each bus, device numbers 0-31 are probed through function 0 (Vendor ID
/// 0xffff: absent); functions 1-7 only when function 0 sets the
/// Multi-Function Device bit. BARs are sized (see [`read_bars`]) and both
/// capability lists walked.
///
/// Type 1 headers are followed through their Secondary Bus Number:
/// - configured by firmware (secondary != 0): scanned as programmed, provided
///   the secondary bus lies above the bridge's bus, inside the range of the
///   bridge above (or the segment) and was not scanned yet;
/// - unconfigured (secondary == 0) and `assign_bus_numbers`: numbered
///   depth-first with the next free bus, starting after the highest bus any
///   firmware-configured bridge uses. While its side is scanned its
///   Subordinate Bus Number is the highest number it may take, then set to the
///   highest bus actually used behind it.
///
/// A bridge that breaks a rule is skipped (see [`SkippedBridge`]), so a
/// looping or malicious topology ends the scan after at most 256 buses.
/// CardBus bridges are reported but not followed; ARI is not interpreted.
pub fn enumerate<A: ConfigAccess + ?Sized>(cfg: &A, options: &EnumerationOptions) -> Enumeration {
    let root = options.buses.start;
    let mut highest = root;
    highest_configured_bus(
        cfg,
        root,
        options.buses,
        &mut BusSet::default(),
        &mut highest,
    );
    let mut scan = Scan {
        cfg,
        options,
        visited: BusSet::default(),
        next_bus: u16::from(highest) + 1,
        result: Enumeration::default(),
    };
    scan.bus(root, None, options.buses.end);
    scan.result
}

/// Vendor ID of `bdf`, or `None` when absent.
fn probe<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<u32> {
    let id = cfg.read32(bdf, offset::VENDOR_ID);
    (id as u16 != ABSENT_VENDOR_ID).then_some(id)
}

/// The functions present on `bus`, with their Vendor/Device ID dword.
fn present_functions<A: ConfigAccess + ?Sized>(cfg: &A, bus: u8) -> Vec<(Bdf, u32)> {
    let mut found = Vec::new();
    for device in 0..Bdf::DEVICES_PER_BUS {
        let Some(f0) = Bdf::new(bus, device, 0) else {
            continue;
        };
        let Some(id) = probe(cfg, f0) else { continue };
        found.push((f0, id));
        if !HeaderType(cfg.read8(f0, offset::HEADER_TYPE)).multi_function() {
            continue;
        }
        for function in 1..Bdf::FUNCTIONS_PER_DEVICE {
            let Some(bdf) = Bdf::new(bus, device, function) else {
                continue;
            };
            if let Some(id) = probe(cfg, bdf) {
                found.push((bdf, id));
            }
        }
    }
    found
}

/// Read-only walk of firmware-configured bridges: raises `highest` to the
/// highest bus number they claim, so new numbers never collide with them.
fn highest_configured_bus<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bus: u8,
    range: BusRange,
    visited: &mut BusSet,
    highest: &mut u8,
) {
    if !visited.insert(bus) {
        return;
    }
    for (bdf, _) in present_functions(cfg, bus) {
        if HeaderType(cfg.read8(bdf, offset::HEADER_TYPE)).layout() != HeaderLayout::Type1 {
            continue;
        }
        let buses = BridgeBuses::read(cfg, bdf);
        if buses.secondary > bus && range.contains(buses.secondary) {
            *highest = (*highest)
                .max(buses.secondary)
                .max(buses.subordinate.min(range.end));
            highest_configured_bus(cfg, buses.secondary, range, visited, highest);
        }
    }
}

/// State of one [`enumerate`] call.
struct Scan<'a, A: ?Sized> {
    cfg: &'a A,
    options: &'a EnumerationOptions,
    visited: BusSet,
    /// The next bus number to give an unconfigured bridge (256: none left).
    next_bus: u16,
    result: Enumeration,
}

impl<A: ConfigAccess + ?Sized> Scan<'_, A> {
    /// Scans `bus`, whose bridge is `parent`; bridges found may be numbered up
    /// to `limit`.
    fn bus(&mut self, bus: u8, parent: Option<Bdf>, limit: u8) {
        self.visited.insert(bus);
        for (bdf, id) in present_functions(self.cfg, bus) {
            let index = self.result.functions.len();
            let function = self.function(bdf, id, parent);
            let is_bridge = function.is_bridge();
            self.result.functions.push(function);
            if is_bridge {
                let buses = self.bridge(bdf, bus, limit);
                self.result.functions[index].bridge = Some(buses);
            }
        }
    }

    /// Reads everything about one present function.
    fn function(&self, bdf: Bdf, id: u32, parent: Option<Bdf>) -> Function {
        let cfg = self.cfg;
        let [revision, prog_if, sub, base] = cfg.read32(bdf, offset::REVISION_ID).to_le_bytes();
        let header_type = HeaderType(cfg.read8(bdf, offset::HEADER_TYPE));
        let (bars, bar_errors) = read_bars(cfg, bdf, header_type);
        Function {
            segment: self.options.segment,
            bdf,
            vendor_id: id as u16,
            device_id: (id >> 16) as u16,
            class: ClassCode { base, sub, prog_if },
            revision,
            header_type,
            bars,
            bar_errors,
            capabilities: capabilities(cfg, bdf).collect(),
            extended_capabilities: extended_capabilities(cfg, bdf).collect(),
            bridge: None,
            parent,
        }
    }

    /// Follows (or numbers, then follows) the bridge `bdf` on `bus`; returns
    /// its bus numbers afterwards.
    fn bridge(&mut self, bdf: Bdf, bus: u8, limit: u8) -> BridgeBuses {
        let buses = BridgeBuses::read(self.cfg, bdf);
        if buses.secondary == 0 {
            return self.number_bridge(bdf, bus, limit, buses);
        }
        let reason = if buses.secondary <= bus {
            Some(SkipReason::SecondaryNotAbove)
        } else if buses.secondary > limit
            || buses.subordinate < buses.secondary
            || buses.subordinate > limit
        {
            Some(SkipReason::OutsideRange)
        } else if self.visited.contains(buses.secondary) {
            Some(SkipReason::AlreadyVisited)
        } else {
            None
        };
        match reason {
            Some(reason) => self.skip(bdf, buses, reason),
            None => self.bus(buses.secondary, Some(bdf), buses.subordinate),
        }
        buses
    }

    /// Gives the unconfigured bridge `bdf` the next free bus number and scans
    /// behind it.
    fn number_bridge(&mut self, bdf: Bdf, bus: u8, limit: u8, buses: BridgeBuses) -> BridgeBuses {
        if !self.options.assign_bus_numbers {
            self.skip(bdf, buses, SkipReason::Unconfigured);
            return buses;
        }
        let Ok(secondary) = u8::try_from(self.next_bus) else {
            self.skip(bdf, buses, SkipReason::NoBusNumberLeft);
            return buses;
        };
        if secondary > limit || self.visited.contains(secondary) {
            self.skip(bdf, buses, SkipReason::NoBusNumberLeft);
            return buses;
        }
        self.next_bus += 1;
        // Open the whole remaining range while scanning, so configuration
        // requests for buses numbered further down are forwarded.
        let scanning = BridgeBuses {
            primary: bus,
            secondary,
            subordinate: limit,
        };
        scanning.write(self.cfg, bdf);
        log::debug!("pci {bdf}: numbered bus {secondary:02x}");
        self.bus(secondary, Some(bdf), limit);
        let done = BridgeBuses {
            subordinate: (self.next_bus - 1) as u8,
            ..scanning
        };
        done.write(self.cfg, bdf);
        done
    }

    fn skip(&mut self, bridge: Bdf, buses: BridgeBuses, reason: SkipReason) {
        log::warn!(
            "pci {bridge}: not scanning behind bridge (secondary {:02x}, subordinate {:02x}): {reason:?}",
            buses.secondary,
            buses.subordinate
        );
        self.result.skipped.push(SkippedBridge {
            bridge,
            buses,
            reason,
        });
    }
}
