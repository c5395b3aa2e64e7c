//! Host tests over [`SimMemory`]. The walker here decodes descriptors bit by bit from the
//! Arm ARM (D8.2 lookup geometry, D8.3 descriptor formats) and never calls the module's
//! encoders or decoders.
//!
//! This module holds what the topic modules share: the memory and table constructors, the
//! spec walker ([`walk`], [`walk1`], [`walk2`]) and the stage-1 leaf decoder ([`s1_bits`]).

mod errors;
mod geometry;
mod map;
mod tlbi;

use alloc::vec::Vec;

use super::*;
use crate::hw::DmaMemory;
use crate::hw::sim::SimMemory;

const K4: u64 = 1 << 12;
const K16: u64 = 1 << 14;
const M2: u64 = 1 << 21;
const M32: u64 = 1 << 25;
const M512: u64 = 1 << 29;
const G1: u64 = 1 << 30;
/// SMMU_IDR5.OAS on QEMU 10: 44 bits.
const OAS: u8 = 44;
const RW: Permissions = Permissions::READ.union(Permissions::WRITE);

fn mem() -> SimMemory {
    SimMemory::new(0x10_0000, 0x1_0000_0000)
}

fn s1(m: &SimMemory, g: Granule, ia: u8) -> Stage1Table {
    Stage1Table::new(m, g, ia, OAS).unwrap()
}

fn s2(m: &SimMemory, g: Granule, ia: u8) -> Stage2Table {
    Stage2Table::new(m, g, ia, OAS).unwrap()
}

/// What the spec walker finds.
#[derive(Debug, PartialEq, Eq)]
struct Walked {
    /// Output address of the walked address.
    phys: u64,
    /// Lookup level of the leaf.
    level: u32,
    /// Bytes the leaf maps.
    size: u64,
    /// The leaf descriptor.
    desc: u64,
}

/// A VMSAv8-64 walk, 48-bit OA. `granule_bits` 12/14/16; each level resolves
/// `granule_bits - 3` bits; the start level resolves the remaining `ia - shift` bits (so
/// concatenated stage-2 tables are just a bigger first table). Descriptor bits 1:0: x0
/// invalid; 11 table (levels 0-2) or page (level 3); 01 block, permitted only at levels
/// 1-2 for 4 KiB and level 2 for 16/64 KiB (checked: anything else is a bug here).
fn walk(
    m: &SimMemory,
    root: u64,
    granule_bits: u32,
    start: u32,
    ia: u32,
    va: u64,
) -> Option<Walked> {
    let stride = granule_bits - 3;
    let oa_field = |d: u64, low: u32| d & ((1u64 << 48) - 1) & !((1u64 << low) - 1);
    let mut table = root;
    for level in start..=3 {
        let shift = granule_bits + (3 - level) * stride;
        let bits = if level == start { ia - shift } else { stride };
        let index = (va >> shift) & ((1 << bits) - 1);
        let d = m.read64(table + index * 8);
        if d & 0b1 == 0 {
            return None;
        }
        let bit1 = (d >> 1) & 1;
        if level < 3 && bit1 == 1 {
            // Table descriptor: bits 63:59 (hierarchical attributes) must be clear here.
            assert_eq!(d >> 59, 0, "no APTable/XNTable/PXNTable/NSTable: {d:#x}");
            table = oa_field(d, granule_bits);
            assert_eq!(table % (1 << granule_bits), 0);
            continue;
        }
        if level == 3 {
            assert_eq!(
                bit1, 1,
                "level-3 descriptors with bits 1:0 = 01 are reserved"
            );
        } else {
            let block_ok = match granule_bits {
                12 => level == 1 || level == 2,
                _ => level == 2,
            };
            assert!(
                block_ok,
                "block at level {level} for granule 2^{granule_bits}"
            );
        }
        let size = 1u64 << shift;
        let out = oa_field(d, shift);
        return Some(Walked {
            phys: out + (va & (size - 1)),
            level,
            size,
            desc: d,
        });
    }
    None
}

fn walk1(m: &SimMemory, t: &Stage1Table, va: u64) -> Option<Walked> {
    walk(
        m,
        t.root(),
        t.granule().bits(),
        u32::from(t.start_level()),
        u32::from(t.input_bits()),
        va,
    )
}

fn walk2(m: &SimMemory, t: &Stage2Table, va: u64) -> Option<Walked> {
    walk(
        m,
        t.root(),
        t.granule().bits(),
        u32::from(t.start_level()),
        u32::from(t.input_bits()),
        va,
    )
}

/// Stage-1 leaf fields (Arm ARM D8.3.2): AttrIndx 4:2, AP 7:6, SH 9:8, AF 10, nG 11,
/// PXN 53, UXN 54.
#[derive(Debug, PartialEq, Eq)]
struct S1Bits {
    attr_indx: u64,
    ap: u64,
    sh: u64,
    af: u64,
    ng: u64,
    pxn: u64,
    uxn: u64,
}

fn s1_bits(d: u64) -> S1Bits {
    S1Bits {
        attr_indx: (d >> 2) & 0b111,
        ap: (d >> 6) & 0b11,
        sh: (d >> 8) & 0b11,
        af: (d >> 10) & 1,
        ng: (d >> 11) & 1,
        pxn: (d >> 53) & 1,
        uxn: (d >> 54) & 1,
    }
}

/// The bits of a read/write, unprivileged-accessible, non-executable Normal WB mapping:
/// AttrIndx 0 (MAIR Attr0 = 0xFF), AP = 0b01 (EL0 RW), inner shareable, AF, nG, XN.
const S1_DMA_RW: S1Bits = S1Bits {
    attr_indx: 0,
    ap: 0b01,
    sh: 0b11,
    af: 1,
    ng: 1,
    pxn: 1,
    uxn: 1,
};
