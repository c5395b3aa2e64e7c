//! Assignment of BAR addresses and bridge windows from the host bridge's
//! windows, and enabling decoding / bus mastering.
//!
//! # Policy
//! - Root-bus functions: each unassigned BAR (address 0, or outside every
//!   window) gets an address; assigned BARs inside a window are kept and
//!   their range reserved.
//! - A bridge subtree where every BAR is assigned is left as firmware
//!   programmed it; its open windows are reserved.
//! - Any other bridge subtree is assigned as a whole, recursively: each
//!   bridge gets an I/O window (4 KiB granularity), a memory window and a
//!   prefetchable memory window (1 MiB granularity, PCI-to-PCI Bridge
//!   Architecture Specification 1.2 §3.2.5.6 - §3.2.5.9) sized to hold what is
//!   behind it, and every BAR behind it is placed inside. Unused windows are
//!   closed (base above limit). The bridge's memory/I/O forwarding is turned
//!   on for the windows it has; its Bus Master Enable is left to [`enable`].
//!
//! Placement is biggest alignment first (sizes are powers of two, so this
//! packs without gaps), each address naturally aligned. Non-prefetchable BARs
//! behind bridges use the 32-bit window (the bridge memory window is 32-bit);
//! 64-bit BARs on the root bus and 64-bit prefetchable windows prefer a
//! [`WindowKind::Mem64`] window and fall back to a [`WindowKind::Mem32`] one.
//! Expansion ROM BARs are not assigned.

use alloc::vec::Vec;

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::bar::{Bar, BarKind, bar_register};
use crate::enumerate::Function;
use crate::header::{Command, offset};

/// Address space of a host bridge window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WindowKind {
    /// Memory below 4 GiB (PCI addresses).
    Mem32,
    /// Memory above 4 GiB.
    Mem64,
    /// I/O space.
    Io,
}

/// A host bridge window: a range of PCI addresses and where the CPU sees it
/// (a devicetree `ranges` entry, or an ACPI `_CRS` descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// Address space.
    pub kind: WindowKind,
    /// CPU physical address of the first byte.
    pub cpu_base: u64,
    /// PCI bus address of the first byte.
    pub pci_base: u64,
    /// Size in bytes.
    pub size: u64,
}

impl Window {
    /// The CPU address of PCI address `pci`, if inside the window.
    pub fn cpu_address(&self, pci: u64) -> Option<u64> {
        let offset = pci.checked_sub(self.pci_base)?;
        (offset < self.size).then(|| self.cpu_base + offset)
    }

    /// Whether `[pci, pci + size)` lies inside the window.
    fn contains(&self, pci: u64, size: u64) -> bool {
        let (start, end) = (
            u128::from(self.pci_base),
            u128::from(self.pci_base) + u128::from(self.size),
        );
        u128::from(pci) >= start && u128::from(pci) + u128::from(size) <= end
    }
}

/// Lowest I/O address given out: below it sit legacy ISA ports.
const IO_FLOOR: u64 = 0x1000;
/// Bridge I/O window granularity (I/O Base/Limit hold address bits 15:12).
const BRIDGE_IO_GRANULARITY: u64 = 0x1000;
/// Bridge memory window granularity (Memory Base/Limit hold bits 31:20).
const BRIDGE_MEMORY_GRANULARITY: u64 = 0x10_0000;
/// Low nibble of I/O Base / Prefetchable Memory Base: 1 when 32/64-bit capable.
const BRIDGE_DECODE_WIDE: u8 = 0x1;
/// Mask of the decode-width nibble.
const BRIDGE_DECODE_MASK: u16 = 0xf;

/// A resource placed by [`assign_resources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The function.
    pub bdf: Bdf,
    /// What was placed.
    pub resource: Resource,
    /// PCI bus address.
    pub pci_address: u64,
    /// CPU physical address (through the host window).
    pub cpu_address: u64,
    /// Size in bytes.
    pub size: u64,
}

/// A resource of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// BAR number.
    Bar(u8),
    /// A bridge's I/O window.
    IoWindow,
    /// A bridge's (non-prefetchable) memory window.
    MemoryWindow,
    /// A bridge's prefetchable memory window.
    PrefetchableWindow,
}

/// The result of [`assign_resources`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignReport {
    /// Resources given an address (kept firmware assignments are not listed).
    pub placed: Vec<Placed>,
    /// Resources no window had room for (left unassigned, decoding not enabled).
    pub failed: Vec<(Bdf, Resource)>,
}

/// Resource classes, each placed in its own bridge window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Io,
    Memory,
    Prefetchable,
}

/// A request to place: one BAR, or one window of a child bridge.
#[derive(Clone, Debug)]
struct Item {
    bdf: Bdf,
    resource: Resource,
    size: u64,
    align: u64,
    /// May go above 4 GiB.
    wide: bool,
}

/// Free-space allocator over one host window.
#[derive(Debug)]
struct Allocator {
    window: Window,
    /// Used `[start, end)` ranges, sorted by start.
    used: Vec<(u128, u128)>,
}

impl Allocator {
    fn new(window: Window) -> Self {
        let mut allocator = Self {
            window,
            used: Vec::new(),
        };
        // Address 0 means "unassigned"; low I/O ports are legacy.
        let floor = if window.kind == WindowKind::Io {
            IO_FLOOR
        } else {
            1
        };
        allocator.reserve(0, floor);
        allocator
    }

    fn reserve(&mut self, start: u64, size: u64) {
        let range = (u128::from(start), u128::from(start) + u128::from(size));
        let at = self.used.partition_point(|r| r.0 < range.0);
        self.used.insert(at, range);
    }

    fn alloc(&mut self, size: u64, align: u64) -> Option<u64> {
        let align = u128::from(align.max(1));
        let align_up = |v: u128| v.div_ceil(align) * align;
        let end = u128::from(self.window.pci_base) + u128::from(self.window.size);
        let mut candidate = align_up(u128::from(self.window.pci_base));
        for &(start, stop) in &self.used {
            if candidate + u128::from(size) <= start {
                break;
            }
            if stop > candidate {
                candidate = align_up(stop);
            }
        }
        if candidate + u128::from(size) > end {
            return None;
        }
        let address = u64::try_from(candidate).ok()?;
        self.reserve(address, size);
        Some(address)
    }
}

/// Assigns addresses to the BARs of `functions` (as returned by
/// [`crate::enumerate`]) from `windows` and programs them, following the
/// [module policy](self). `functions` is updated with the new addresses and
/// bridge windows.
pub fn assign_resources<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &mut [Function],
    windows: &[Window],
) -> AssignReport {
    let mut allocators: Vec<Allocator> = windows.iter().copied().map(Allocator::new).collect();
    let mut report = AssignReport::default();
    let mut items = Vec::new();
    let roots: Vec<usize> = (0..functions.len())
        .filter(|&i| functions[i].parent.is_none())
        .collect();

    for &i in &roots {
        let function = &functions[i];
        for bar in &function.bars {
            match windows.iter().find(|w| {
                bar.is_assigned() && w.kind_fits(bar) && w.contains(bar.address, bar.size)
            }) {
                Some(window) => reserve(&mut allocators, *window, bar.address, bar.size),
                None => items.push(bar_item(function.bdf, bar, true)),
            }
        }
        if function.is_bridge() {
            if subtree_assigned(functions, function.bdf) {
                for (start, size) in open_windows(cfg, function.bdf) {
                    if let Some(window) = windows.iter().find(|w| w.contains(start, size)) {
                        reserve(&mut allocators, *window, start, size);
                    }
                }
            } else {
                close_subtree_windows(cfg, functions, function.bdf);
                items.extend(bridge_items(cfg, functions, function.bdf));
            }
        }
    }

    items.sort_by(|a, b| b.align.cmp(&a.align).then(b.size.cmp(&a.size)));
    for item in items {
        let class = class_of(item.resource, functions, item.bdf);
        let preferred: &[WindowKind] = match class {
            Class::Io => &[WindowKind::Io],
            _ if item.wide => &[WindowKind::Mem64, WindowKind::Mem32],
            _ => &[WindowKind::Mem32],
        };
        let placed = preferred.iter().find_map(|kind| {
            allocators
                .iter_mut()
                .filter(|a| a.window.kind == *kind)
                .find_map(|a| a.alloc(item.size, item.align).map(|addr| (addr, a.window)))
        });
        match placed {
            Some((address, window)) => place(cfg, functions, &item, address, &window, &mut report),
            None => {
                log::warn!(
                    "pci {}: no room for {:?} ({:#x} bytes)",
                    item.bdf,
                    item.resource,
                    item.size
                );
                fail(functions, &item, &mut report);
            }
        }
    }
    report
}

impl Window {
    /// Whether a firmware address of `bar` may lie in this window.
    fn kind_fits(&self, bar: &Bar) -> bool {
        match self.kind {
            WindowKind::Io => bar.kind == BarKind::Io,
            WindowKind::Mem32 | WindowKind::Mem64 => bar.is_memory(),
        }
    }
}

fn reserve(allocators: &mut [Allocator], window: Window, start: u64, size: u64) {
    if let Some(a) = allocators.iter_mut().find(|a| a.window == window) {
        a.reserve(start, size);
    }
}

fn bar_item(bdf: Bdf, bar: &Bar, root: bool) -> Item {
    Item {
        bdf,
        resource: Resource::Bar(bar.index),
        size: bar.size,
        align: bar.size,
        // Behind a bridge only the prefetchable window can be 64-bit.
        wide: bar.kind == BarKind::Memory64 && (root || bar.prefetchable),
    }
}

fn index_of(functions: &[Function], bdf: Bdf) -> Option<usize> {
    functions.iter().position(|f| f.bdf == bdf)
}

fn children(functions: &[Function], bridge: Bdf) -> impl Iterator<Item = usize> + '_ {
    (0..functions.len()).filter(move |&i| functions[i].parent == Some(bridge))
}

/// Whether every BAR behind `bridge` is assigned (bounded by the function count).
fn subtree_assigned(functions: &[Function], bridge: Bdf) -> bool {
    let mut stack = Vec::from([bridge]);
    let mut steps = 0;
    while let Some(b) = stack.pop() {
        steps += 1;
        if steps > functions.len() {
            return false;
        }
        for i in children(functions, b) {
            if functions[i].bars.iter().any(|bar| !bar.is_assigned()) {
                return false;
            }
            if functions[i].is_bridge() {
                stack.push(functions[i].bdf);
            }
        }
    }
    true
}

fn class_of(resource: Resource, functions: &[Function], bdf: Bdf) -> Class {
    match resource {
        Resource::IoWindow => Class::Io,
        Resource::MemoryWindow => Class::Memory,
        Resource::PrefetchableWindow => Class::Prefetchable,
        Resource::Bar(index) => {
            let bar = index_of(functions, bdf).and_then(|i| functions[i].bar(index).copied());
            match bar {
                Some(bar) if bar.kind == BarKind::Io => Class::Io,
                Some(bar) if bar.prefetchable => Class::Prefetchable,
                _ => Class::Memory,
            }
        }
    }
}

/// Items placed inside one bridge window of `bridge`, biggest alignment first.
fn window_contents<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &[Function],
    bridge: Bdf,
    class: Class,
) -> Vec<Item> {
    let mut items = Vec::new();
    for i in children(functions, bridge) {
        let child = &functions[i];
        for bar in &child.bars {
            if class_of(Resource::Bar(bar.index), functions, child.bdf) == class {
                items.push(bar_item(child.bdf, bar, false));
            }
        }
        if child.is_bridge() {
            items.extend(
                bridge_items(cfg, functions, child.bdf)
                    .into_iter()
                    .filter(|item| class_of(item.resource, functions, item.bdf) == class),
            );
        }
    }
    items.sort_by(|a, b| b.align.cmp(&a.align).then(b.size.cmp(&a.size)));
    items
}

/// Offsets of `items` packed in order from 0, and the total span.
fn pack(items: &[Item]) -> (Vec<u64>, u64) {
    let mut offsets = Vec::with_capacity(items.len());
    let mut end = 0u64;
    for item in items {
        let at = end.div_ceil(item.align.max(1)) * item.align.max(1);
        offsets.push(at);
        end = at.saturating_add(item.size);
    }
    (offsets, end)
}

/// The windows `bridge` needs (non-empty ones only).
fn bridge_items<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &[Function],
    bridge: Bdf,
) -> Vec<Item> {
    let mut items = Vec::new();
    for (class, resource, granularity) in [
        (Class::Io, Resource::IoWindow, BRIDGE_IO_GRANULARITY),
        (
            Class::Memory,
            Resource::MemoryWindow,
            BRIDGE_MEMORY_GRANULARITY,
        ),
        (
            Class::Prefetchable,
            Resource::PrefetchableWindow,
            BRIDGE_MEMORY_GRANULARITY,
        ),
    ] {
        let contents = window_contents(cfg, functions, bridge, class);
        if contents.is_empty() {
            continue;
        }
        let (_, span) = pack(&contents);
        let align = contents
            .iter()
            .map(|i| i.align)
            .max()
            .unwrap_or(1)
            .max(granularity);
        let wide = class == Class::Prefetchable
            && prefetchable_is_64(cfg, bridge)
            && contents.iter().all(|i| i.wide);
        items.push(Item {
            bdf: bridge,
            resource,
            size: span.div_ceil(granularity) * granularity,
            align,
            wide,
        });
    }
    items
}

fn prefetchable_is_64<A: ConfigAccess + ?Sized>(cfg: &A, bridge: Bdf) -> bool {
    cfg.read16(bridge, offset::PREFETCHABLE_MEMORY_BASE) & BRIDGE_DECODE_MASK
        == u16::from(BRIDGE_DECODE_WIDE)
}

/// Open windows of a firmware-programmed bridge, as (PCI address, size).
fn open_windows<A: ConfigAccess + ?Sized>(cfg: &A, bridge: Bdf) -> Vec<(u64, u64)> {
    let mut open = Vec::new();
    let memory = cfg.read32(bridge, offset::MEMORY_BASE);
    let (base, limit) = (
        memory_window_address(memory as u16),
        memory_window_address((memory >> 16) as u16),
    );
    if base <= limit {
        open.push((base, limit + BRIDGE_MEMORY_GRANULARITY - base));
    }
    let pref = cfg.read32(bridge, offset::PREFETCHABLE_MEMORY_BASE);
    let (mut base, mut limit) = (
        memory_window_address(pref as u16),
        memory_window_address((pref >> 16) as u16),
    );
    if prefetchable_is_64(cfg, bridge) {
        base |= u64::from(cfg.read32(bridge, offset::PREFETCHABLE_BASE_UPPER_32)) << 32;
        limit |= u64::from(cfg.read32(bridge, offset::PREFETCHABLE_LIMIT_UPPER_32)) << 32;
    }
    if base <= limit {
        open.push((base, limit + BRIDGE_MEMORY_GRANULARITY - base));
    }
    open
}

/// Closes every window of `bridge` and of the bridges behind it (base above
/// limit), before the used ones are programmed.
fn close_subtree_windows<A: ConfigAccess + ?Sized>(cfg: &A, functions: &[Function], bridge: Bdf) {
    let mut stack = Vec::from([bridge]);
    let mut steps = 0;
    while let Some(b) = stack.pop() {
        steps += 1;
        if steps > functions.len() {
            break;
        }
        cfg.write16(b, offset::IO_BASE, u16::from_le_bytes([0xf0, 0x00]));
        cfg.write32(b, offset::IO_BASE_UPPER_16, 0);
        let closed = u32::from(memory_window_register(0)) << 16
            | u32::from(memory_window_register(u64::from(u32::MAX)));
        cfg.write32(b, offset::MEMORY_BASE, closed);
        cfg.write32(b, offset::PREFETCHABLE_MEMORY_BASE, closed);
        cfg.write32(b, offset::PREFETCHABLE_BASE_UPPER_32, 0);
        cfg.write32(b, offset::PREFETCHABLE_LIMIT_UPPER_32, 0);
        stack.extend(
            children(functions, b)
                .filter(|&i| functions[i].is_bridge())
                .map(|i| functions[i].bdf),
        );
    }
}

/// Address bits 31:20 from a Memory Base/Limit register (bits 15:4).
fn memory_window_address(register: u16) -> u64 {
    u64::from(register & !BRIDGE_DECODE_MASK) << 16
}

/// Memory Base/Limit register value (bits 15:4) for address bits 31:20.
fn memory_window_register(address: u64) -> u16 {
    ((address >> 16) as u16) & !BRIDGE_DECODE_MASK
}

/// Programs `item` at `address` and, for a bridge window, everything inside.
fn place<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &mut [Function],
    item: &Item,
    address: u64,
    window: &Window,
    report: &mut AssignReport,
) {
    report.placed.push(Placed {
        bdf: item.bdf,
        resource: item.resource,
        pci_address: address,
        cpu_address: window.cpu_address(address).unwrap_or(address),
        size: item.size,
    });
    match item.resource {
        Resource::Bar(index) => program_bar(cfg, functions, item.bdf, index, address),
        resource => {
            let class = class_of(resource, functions, item.bdf);
            let contents = window_contents(cfg, functions, item.bdf, class);
            let (offsets, _) = pack(&contents);
            program_bridge_window(cfg, item.bdf, resource, address, item.size);
            for (inner, at) in contents.iter().zip(offsets) {
                place(cfg, functions, inner, address + at, window, report);
            }
        }
    }
}

fn fail(functions: &[Function], item: &Item, report: &mut AssignReport) {
    report.failed.push((item.bdf, item.resource));
    if let Resource::Bar(_) = item.resource {
        return;
    }
    // Nothing behind a window that has no room gets an address.
    let class = class_of(item.resource, functions, item.bdf);
    let mut stack = Vec::from([item.bdf]);
    while let Some(bridge) = stack.pop() {
        if stack.len() > functions.len() {
            break;
        }
        for i in children(functions, bridge) {
            for bar in &functions[i].bars {
                if class_of(Resource::Bar(bar.index), functions, functions[i].bdf) == class {
                    report
                        .failed
                        .push((functions[i].bdf, Resource::Bar(bar.index)));
                }
            }
            if functions[i].is_bridge() {
                stack.push(functions[i].bdf);
            }
        }
    }
}

/// Writes BAR `index` of `bdf` with decoding disabled, and records it.
fn program_bar<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &mut [Function],
    bdf: Bdf,
    index: u8,
    address: u64,
) {
    let Some(f) = index_of(functions, bdf) else {
        return;
    };
    let Some(bar) = functions[f].bars.iter_mut().find(|b| b.index == index) else {
        return;
    };
    let command = Command::from_bits_retain(cfg.read16(bdf, offset::COMMAND));
    let decoding = Command::MEMORY_SPACE | Command::IO_SPACE;
    if command.intersects(decoding) {
        cfg.write16(bdf, offset::COMMAND, (command - decoding).bits());
    }
    let register = bar_register(index);
    // The low bits of a BAR are read-only type bits; writing the address leaves them.
    cfg.write32(bdf, register, address as u32);
    if bar.kind == BarKind::Memory64 {
        cfg.write32(bdf, register + 4, (address >> 32) as u32);
    }
    if command.intersects(decoding) {
        cfg.write16(bdf, offset::COMMAND, command.bits());
    }
    bar.address = address;
    log::debug!("pci {bdf}: BAR{index} at {address:#x}");
}

/// Programs one bridge window and turns on its forwarding.
fn program_bridge_window<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bridge: Bdf,
    resource: Resource,
    base: u64,
    size: u64,
) {
    let limit = base + size - 1;
    let mut command = Command::from_bits_retain(cfg.read16(bridge, offset::COMMAND));
    match resource {
        Resource::IoWindow => {
            // I/O Base/Limit hold address bits 15:12 in bits 7:4; the upper 16
            // bits go in I/O Base/Limit Upper 16 Bits.
            let encode = |a: u64| ((a >> 8) as u8) & 0xf0;
            let io = u16::from_le_bytes([encode(base), encode(limit)]);
            cfg.write16(bridge, offset::IO_BASE, io);
            cfg.write32(
                bridge,
                offset::IO_BASE_UPPER_16,
                ((limit >> 16) as u32) << 16 | (base >> 16) as u32 & 0xffff,
            );
            command |= Command::IO_SPACE;
        }
        Resource::MemoryWindow => {
            let dword = u32::from(memory_window_register(limit)) << 16
                | u32::from(memory_window_register(base));
            cfg.write32(bridge, offset::MEMORY_BASE, dword);
            command |= Command::MEMORY_SPACE;
        }
        Resource::PrefetchableWindow => {
            let dword = u32::from(memory_window_register(limit)) << 16
                | u32::from(memory_window_register(base));
            cfg.write32(bridge, offset::PREFETCHABLE_MEMORY_BASE, dword);
            if prefetchable_is_64(cfg, bridge) {
                cfg.write32(
                    bridge,
                    offset::PREFETCHABLE_BASE_UPPER_32,
                    (base >> 32) as u32,
                );
                cfg.write32(
                    bridge,
                    offset::PREFETCHABLE_LIMIT_UPPER_32,
                    (limit >> 32) as u32,
                );
            }
            command |= Command::MEMORY_SPACE;
        }
        Resource::Bar(_) => return,
    }
    cfg.write16(bridge, offset::COMMAND, command.bits());
    log::debug!("pci {bridge}: {resource:?} {base:#x}..={limit:#x}");
}

/// Sets Memory Space Enable, I/O Space Enable and Bus Master Enable of `bdf`
/// to the values given, keeping the other Command bits (PCIe Base
/// Specification §7.5.1.1.3). The write never clears a Status error bit.
pub fn enable<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
    memory: bool,
    io: bool,
    bus_master: bool,
) -> Command {
    let mut command = Command::from_bits_retain(cfg.read16(bdf, offset::COMMAND));
    command.set(Command::MEMORY_SPACE, memory);
    command.set(Command::IO_SPACE, io);
    command.set(Command::BUS_MASTER, bus_master);
    cfg.write16(bdf, offset::COMMAND, command.bits());
    command
}

/// Sets Bus Master Enable on every bridge above `bdf` (needed for its DMA and
/// MSI writes to be forwarded upstream), keeping their other Command bits.
pub fn enable_upstream_bus_master<A: ConfigAccess + ?Sized>(
    cfg: &A,
    functions: &[Function],
    bdf: Bdf,
) {
    let mut current = index_of(functions, bdf).and_then(|i| functions[i].parent);
    let mut steps = 0;
    while let Some(bridge) = current {
        steps += 1;
        if steps > functions.len() {
            break;
        }
        let command =
            Command::from_bits_retain(cfg.read16(bridge, offset::COMMAND)) | Command::BUS_MASTER;
        cfg.write16(bridge, offset::COMMAND, command.bits());
        current = index_of(functions, bridge).and_then(|i| functions[i].parent);
    }
}
