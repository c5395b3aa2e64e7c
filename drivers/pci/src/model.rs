//! A software model of PCI configuration space for host tests.
//!
//! Written from the specifications with its own constants (it never calls
//! the driver's encoders): each byte has a writable mask and a
//! write-1-to-clear mask, so BAR sizing (all-ones reads back the size mask),
//! RW1C status bits and read-only bits behave as hardware does. Bridges route
//! configuration requests by their current Secondary/Subordinate Bus Number,
//! so bus numbers the driver assigns change what is reachable.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::vec::Vec;

use crate::{Bdf, ConfigAccess};

/// One function's 4 KiB of configuration space.
#[derive(Clone, Debug)]
pub struct FunctionModel {
    pub bytes: Vec<u8>,
    rw: Vec<u8>,
    rw1c: Vec<u8>,
    /// The bus node behind this bridge.
    child: Option<usize>,
    /// How this function resets itself, if at all.
    pub resets: Resets,
    /// The reset values: the bytes when the function was added.
    initial: Vec<u8>,
    /// Configuration reads still answered with all-ones after a reset.
    not_ready: u32,
    /// How many times it was reset.
    pub reset_count: u32,
}

/// The reset mechanisms a function model implements (written from the
/// PCIe, PCI PM and AF specifications).
#[derive(Clone, Copy, Debug, Default)]
pub struct Resets {
    /// Offset of the PCI Express Device Control register whose bit 15
    /// (Initiate FLR) resets the function.
    pub flr: Option<usize>,
    /// Offset of the AF Control register whose bit 0 resets the function.
    pub af_flr: Option<usize>,
    /// Offset of PMCSR: D3hot → D0 resets when No_Soft_Reset (bit 3) is clear.
    pub pm: Option<usize>,
    /// Reads answered with all-ones after each reset (not ready yet).
    pub not_ready_reads: u32,
}

impl FunctionModel {
    fn blank() -> Self {
        Self {
            bytes: vec![0; 4096],
            rw: vec![0; 4096],
            rw1c: vec![0; 4096],
            child: None,
            resets: Resets::default(),
            initial: Vec::new(),
            not_ready: 0,
            reset_count: 0,
        }
    }

    /// Sets bytes (reset values).
    pub fn set(mut self, offset: usize, value: &[u8]) -> Self {
        self.bytes[offset..offset + value.len()].copy_from_slice(value);
        self
    }

    pub fn set16(self, offset: usize, value: u16) -> Self {
        self.set(offset, &value.to_le_bytes())
    }

    pub fn set32(self, offset: usize, value: u32) -> Self {
        self.set(offset, &value.to_le_bytes())
    }

    /// Marks bits writable.
    pub fn rw(mut self, offset: usize, mask: &[u8]) -> Self {
        self.rw[offset..offset + mask.len()].copy_from_slice(mask);
        self
    }

    /// Marks bits write-1-to-clear.
    pub fn rw1c(mut self, offset: usize, mask: &[u8]) -> Self {
        self.rw1c[offset..offset + mask.len()].copy_from_slice(mask);
        self
    }

    fn common(vendor: u16, device: u16, class: u32, header_type: u8) -> Self {
        let [prog_if, sub, base, _] = class.to_le_bytes();
        Self::blank()
            .set16(0x00, vendor)
            .set16(0x02, device)
            .set(0x08, &[0x01, prog_if, sub, base])
            .set(0x0e, &[header_type])
            // Command: I/O, Memory, Bus Master, Parity Error Response, SERR#,
            // Interrupt Disable are writable.
            .rw(0x04, &0x0547u16.to_le_bytes())
            // Status: bits 15:11 and 8 are RW1C.
            .rw1c(0x06, &0xf900u16.to_le_bytes())
            .rw(0x3c, &[0xff])
    }

    /// A Type 0 function.
    pub fn endpoint(vendor: u16, device: u16, class: u32) -> Self {
        Self::common(vendor, device, class, 0x00)
    }

    /// A Type 1 PCI-to-PCI bridge, bus numbers 0 (unconfigured), 16-bit I/O
    /// and 64-bit prefetchable decoding, windows reset to 0.
    pub fn bridge() -> Self {
        Self::common(0x1b36, 0x0001, 0x060400, 0x01)
            .rw(0x18, &[0xff, 0xff, 0xff, 0xff])
            .rw(0x1c, &[0xf0, 0xf0])
            .rw1c(0x1e, &0xf900u16.to_le_bytes())
            .rw(0x20, &[0xf0, 0xff, 0xf0, 0xff])
            .set(0x24, &[0x01, 0x00, 0x01, 0x00])
            .rw(0x24, &[0xf0, 0xff, 0xf0, 0xff])
            .rw(0x28, &[0xff; 8])
            .rw(0x3e, &[0xff, 0x0f])
    }

    /// Sets the header type byte (for the multi-function bit).
    pub fn header_type(self, value: u8) -> Self {
        self.set(0x0e, &[value])
    }

    /// Pre-programmed bus numbers (as firmware would leave them).
    pub fn buses(self, primary: u8, secondary: u8, subordinate: u8) -> Self {
        self.set(0x18, &[primary, secondary, subordinate])
    }

    /// A 32-bit memory BAR of `size` bytes.
    pub fn bar32(self, index: usize, size: u32, prefetchable: bool) -> Self {
        let at = 0x10 + 4 * index;
        let low = if prefetchable { 0x8 } else { 0x0 };
        self.set32(at, low).rw(at, &(!(size - 1)).to_le_bytes())
    }

    /// A 64-bit memory BAR of `size` bytes in slots `index`, `index + 1`.
    pub fn bar64(self, index: usize, size: u64, prefetchable: bool) -> Self {
        let at = 0x10 + 4 * index;
        let low = 0x4 | if prefetchable { 0x8 } else { 0x0 };
        let mask = !(size - 1);
        self.set32(at, low)
            .rw(at, &((mask as u32) & !0xf).to_le_bytes())
            .rw(at + 4, &((mask >> 32) as u32).to_le_bytes())
    }

    /// An I/O BAR of `size` bytes decoding 16 address bits.
    pub fn io_bar(self, index: usize, size: u32) -> Self {
        let at = 0x10 + 4 * index;
        self.set32(at, 0x1)
            .rw(at, &((!(size - 1)) & 0xfffc).to_le_bytes())
    }

    /// Points the Capabilities Pointer at `first` and sets Status.Capabilities List.
    pub fn capability_list(self, first: u8) -> Self {
        let status = u16::from_le_bytes([self.bytes[6], self.bytes[7]]) | 0x10;
        self.set(0x34, &[first]).set16(0x06, status)
    }

    /// A standard capability entry.
    pub fn capability(self, offset: usize, id: u8, next: u8) -> Self {
        self.set(offset, &[id, next])
    }

    /// An extended capability header.
    pub fn extended(self, offset: usize, id: u16, version: u8, next: u16) -> Self {
        self.set32(
            offset,
            u32::from(id) | u32::from(version) << 16 | u32::from(next) << 20,
        )
    }

    /// Sets how the function resets.
    pub fn resets(mut self, resets: Resets) -> Self {
        self.resets = resets;
        self
    }

    /// Back to the reset values, unanswered for a while.
    fn reset(&mut self) {
        self.bytes.clone_from(&self.initial);
        self.not_ready = self.resets.not_ready_reads;
        self.reset_count += 1;
    }

    /// Applies the reset a write caused: `before` is the dword at `offset`
    /// before it.
    fn reset_on_write(&mut self, offset: usize, before: u32) {
        let after = self.read32(offset);
        let r = self.resets;
        let hit = |reg: Option<usize>, bit: u32| {
            reg.is_some_and(|at| at & !3 == offset && after >> (8 * (at & 3)) & bit != 0)
        };
        let flr = hit(r.flr, 1 << 15) || hit(r.af_flr, 1);
        let d3_to_d0 = r.pm.is_some_and(|at| {
            let shift = 8 * (at & 3);
            at & !3 == offset
                && (before >> shift) & 3 == 3
                && (after >> shift) & 3 == 0
                && (after >> shift) & (1 << 3) == 0
        });
        if flr || d3_to_d0 {
            self.reset();
        }
    }

    fn read32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.bytes[offset..offset + 4].try_into().unwrap())
    }

    fn write32(&mut self, offset: usize, value: u32) {
        for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
            let at = offset + i;
            let (rw, rw1c) = (self.rw[at], self.rw1c[at]);
            self.bytes[at] = (self.bytes[at] & !rw) | (byte & rw);
            self.bytes[at] &= !(byte & rw1c);
        }
    }
}

/// A bus: functions by (device, function).
#[derive(Clone, Debug, Default)]
struct BusNode {
    functions: BTreeMap<(u8, u8), FunctionModel>,
}

#[derive(Debug)]
struct Inner {
    nodes: Vec<BusNode>,
    root_bus: u8,
    /// BARs written with all-ones while decoding was enabled.
    sizing_while_decoding: Vec<(Bdf, usize)>,
}

/// A segment: a root bus node and the nodes behind bridges.
#[derive(Debug)]
pub struct Model {
    inner: RefCell<Inner>,
    max_offset: u16,
}

/// Identifies a bus node of the model.
pub type NodeId = usize;

impl Model {
    /// An ECAM segment (4096 bytes per function) whose root bus is `root_bus`.
    pub fn new(root_bus: u8) -> Self {
        Self {
            inner: RefCell::new(Inner {
                nodes: vec![BusNode::default()],
                root_bus,
                sizing_while_decoding: Vec::new(),
            }),
            max_offset: 0xfff,
        }
    }

    /// A port I/O segment (256 bytes per function).
    pub fn port_io() -> Self {
        Self {
            max_offset: 0xff,
            ..Self::new(0)
        }
    }

    /// The root bus node.
    pub const ROOT: NodeId = 0;

    /// A new, empty bus node.
    pub fn node(&self) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        inner.nodes.push(BusNode::default());
        inner.nodes.len() - 1
    }

    /// Adds a function to `node`.
    pub fn add(&self, node: NodeId, device: u8, function: u8, mut model: FunctionModel) {
        model.initial.clone_from(&model.bytes);
        self.inner.borrow_mut().nodes[node]
            .functions
            .insert((device, function), model);
    }

    /// Adds a bridge whose secondary side is `child`.
    pub fn add_bridge(
        &self,
        node: NodeId,
        device: u8,
        function: u8,
        mut model: FunctionModel,
        child: NodeId,
    ) {
        model.child = Some(child);
        self.add(node, device, function, model);
    }

    /// Reads a function's dword directly, by node (bypassing routing).
    pub fn peek32(&self, node: NodeId, device: u8, function: u8, offset: usize) -> u32 {
        self.inner.borrow().nodes[node].functions[&(device, function)].read32(offset)
    }

    /// Sets a function's bytes directly, by node (hardware setting status bits).
    pub fn poke16(&self, node: NodeId, device: u8, function: u8, offset: usize, value: u16) {
        let mut inner = self.inner.borrow_mut();
        let f = inner.nodes[node]
            .functions
            .get_mut(&(device, function))
            .unwrap();
        f.bytes[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }

    /// How many times a function was reset.
    pub fn reset_count(&self, node: NodeId, device: u8, function: u8) -> u32 {
        self.inner.borrow().nodes[node].functions[&(device, function)].reset_count
    }

    /// BAR registers written with all-ones while the function decoded.
    pub fn sizing_while_decoding(&self) -> Vec<(Bdf, usize)> {
        self.inner.borrow().sizing_while_decoding.clone()
    }

    /// The node a request for `bus` reaches, following bridges by their
    /// current bus numbers (bounded, as the topology may loop).
    fn route(inner: &Inner, bus: u8) -> Option<NodeId> {
        let (mut node, mut number) = (Self::ROOT, inner.root_bus);
        for _ in 0..64 {
            if bus == number {
                return Some(node);
            }
            let next = inner.nodes[node].functions.values().find_map(|f| {
                let (secondary, subordinate) = (f.bytes[0x19], f.bytes[0x1a]);
                let forwards = f.bytes[0x0e] & 0x7f == 1
                    && secondary != 0
                    && secondary <= bus
                    && bus <= subordinate;
                forwards.then_some((f.child?, secondary))
            })?;
            (node, number) = next;
        }
        None
    }
}

impl ConfigAccess for Model {
    fn read32(&self, bdf: Bdf, offset: u16) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned dword read at {offset:#x}");
        assert!(
            offset <= self.max_offset - 3,
            "read beyond {:#x}",
            self.max_offset
        );
        let mut inner = self.inner.borrow_mut();
        let Some(node) = Self::route(&inner, bdf.bus()) else {
            return u32::MAX;
        };
        let Some(f) = inner.nodes[node]
            .functions
            .get_mut(&(bdf.device(), bdf.function()))
        else {
            return u32::MAX;
        };
        if f.not_ready > 0 {
            f.not_ready -= 1;
            return u32::MAX;
        }
        f.read32(usize::from(offset))
    }

    fn write32(&self, bdf: Bdf, offset: u16, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned dword write at {offset:#x}");
        assert!(
            offset <= self.max_offset - 3,
            "write beyond {:#x}",
            self.max_offset
        );
        let mut inner = self.inner.borrow_mut();
        let Some(node) = Self::route(&inner, bdf.bus()) else {
            return;
        };
        let Some(f) = inner.nodes[node]
            .functions
            .get_mut(&(bdf.device(), bdf.function()))
        else {
            return;
        };
        let offset = usize::from(offset);
        let bars_end = if f.bytes[0x0e] & 0x7f == 1 {
            0x18
        } else {
            0x28
        };
        let decoding = f.bytes[0x04] & 0x3 != 0;
        let sizing = (0x10..bars_end).contains(&offset) && value == u32::MAX && decoding;
        let before = f.read32(offset);
        f.write32(offset, value);
        f.reset_on_write(offset, before);
        // Secondary Bus Reset asserted (Bridge Control bit 6): everything
        // below the bridge resets.
        let sbr = |v: u32| f.child.is_some() && offset == 0x3c && v & (1 << 22) != 0;
        let below = (sbr(f.read32(offset)) && !sbr(before))
            .then_some(f.child)
            .flatten();
        if sizing {
            inner.sizing_while_decoding.push((bdf, offset));
        }
        if let Some(child) = below {
            for g in inner.nodes[child].functions.values_mut() {
                g.reset();
            }
        }
    }

    fn max_offset(&self) -> u16 {
        self.max_offset
    }
}
