//! Guest translation structures written into a guest's RAM as a guest
//! kernel would: x86 4-level and VMSAv8-64 stage-1 tables, SMMUv3 CDs.
//! The `try_` forms walk whatever the RAM holds (a fuzzer may have
//! scribbled on it) and give up instead of panicking.

use vsva_iommu::smmuv3::pagetable::Granule;
use vsva_iommu::smmuv3::structs::{ContextDescriptor, TableHalf};

use super::Guest;
use crate::guest::GuestMemory;

/// x86 paging entry bits (Intel SDM Vol. 3A §4.5; VT-d §9.7).
pub mod x86 {
    pub const P: u64 = 1;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const PS: u64 = 1 << 7;
    pub const XD: u64 = 1 << 63;
    /// Present, writable, user: what a device's table entries need.
    pub const TABLE: u64 = P | RW | US;
    /// The address bits of an entry.
    pub const ADDRESS: u64 = 0x000f_ffff_ffff_f000;
}

/// VMSAv8-64 stage-1 descriptors, 4 KiB granule (Arm ARM D8.3).
pub mod vmsa {
    pub const VALID: u64 = 1;
    pub const TABLE: u64 = 1 << 1;
    pub const PAGE: u64 = 1 << 1;
    /// AttrIndx 0 (MAIR attr0), inner shareable, access flag, not global
    /// (nG: the TLB entry belongs to the CD's ASID only).
    pub const NORMAL: u64 = (0b11 << 8) | (1 << 10) | (1 << 11);
    /// AP[2]: read-only.
    pub const RO: u64 = 1 << 7;
    /// MAIR: attr0 normal write-back.
    pub const MAIR: u64 = 0xff;
    /// IRGN0 / ORGN0 write-back, SH0 inner.
    pub const WALK: u32 = 0b11_01_01;
    /// The output address bits of a descriptor.
    pub const ADDRESS: u64 = 0x0000_ffff_ffff_f000;
}

/// Walks from `root` through the table entries `indexes` names, making the
/// missing tables (`valid` tells a table entry, `link` makes one): the
/// guest-physical address of the last-level entry.
fn walk(
    guest: &mut Guest,
    root: u64,
    indexes: &[u64],
    valid: impl Fn(u64) -> bool,
    address: u64,
    link: u64,
) -> Option<u64> {
    let mut table = root;
    let (last, path) = indexes.split_last()?;
    for index in path {
        let at = table.checked_add(index * 8)?;
        let entry = guest.ram.try_read_u64(at).ok()?;
        table = if valid(entry) {
            entry & address
        } else {
            let next = guest.try_page()?;
            guest.ram.write(at, &(next | link).to_le_bytes()).ok()?;
            next
        };
    }
    table.checked_add(last * 8)
}

/// An x86 4-level table the guest writes into its own RAM.
#[derive(Debug, Clone, Copy)]
pub struct X86Table {
    pub root: u64,
}

impl X86Table {
    pub fn new(guest: &mut Guest) -> Self {
        Self { root: guest.page() }
    }

    /// Maps 4 KiB page `gva` to `gpa` with leaf `flags` (tables as needed).
    pub fn map(&self, guest: &mut Guest, gva: u64, gpa: u64, flags: u64) {
        self.try_map(guest, gva, gpa, flags)
            .expect("a table entry outside the guest's RAM, or the RAM full");
    }

    /// The same; `None` where an entry on the way is outside the guest's
    /// RAM or the RAM has no page left for a table.
    pub fn try_map(&self, guest: &mut Guest, gva: u64, gpa: u64, flags: u64) -> Option<()> {
        let indexes = [4, 3, 2, 1].map(|level| (gva >> (12 + 9 * (level - 1))) & 511);
        let present = |e: u64| e & x86::P != 0;
        let at = walk(
            guest,
            self.root,
            &indexes,
            present,
            x86::ADDRESS,
            x86::TABLE,
        )?;
        guest.ram.write(at, &(gpa | flags).to_le_bytes()).ok()
    }

    /// The entry of `gva` at `level` (1 = PTE), for tests to overwrite.
    pub fn entry_address(&self, guest: &Guest, gva: u64, level: u32) -> u64 {
        let mut table = self.root;
        for l in (level + 1..=4).rev() {
            let index = (gva >> (12 + 9 * (l - 1))) & 511;
            table = guest.ram.read_u64(table + index * 8) & x86::ADDRESS;
        }
        table + ((gva >> (12 + 9 * (level - 1))) & 511) * 8
    }
}

/// A VMSAv8 4 KiB-granule stage-1 table of 39 input bits (3 levels), in the
/// guest's RAM.
#[derive(Debug, Clone, Copy)]
pub struct VmsaTable {
    pub root: u64,
}

impl VmsaTable {
    pub fn new(guest: &mut Guest) -> Self {
        Self { root: guest.page() }
    }

    /// Maps 4 KiB page `va` to `ipa`, a normal-memory page with `extra`
    /// attributes (tables as needed).
    pub fn map(&self, guest: &mut Guest, va: u64, ipa: u64, extra: u64) {
        self.try_map(guest, va, ipa, extra)
            .expect("a table entry outside the guest's RAM, or the RAM full");
    }

    /// The same; `None` as for [`X86Table::try_map`].
    pub fn try_map(&self, guest: &mut Guest, va: u64, ipa: u64, extra: u64) -> Option<()> {
        let indexes = [1, 2, 3].map(|level| (va >> (39 - 9 * level)) & 511);
        let valid = |e: u64| e & vmsa::VALID != 0;
        let link = vmsa::VALID | vmsa::TABLE;
        let at = walk(guest, self.root, &indexes, valid, vmsa::ADDRESS, link)?;
        let leaf = ipa | vmsa::VALID | vmsa::PAGE | vmsa::NORMAL | extra;
        guest.ram.write(at, &leaf.to_le_bytes()).ok()
    }
}

/// A CD the guest writes in its own RAM: TTB0 and the CD table itself are
/// IPAs, the ASID the guest's.
pub fn guest_cd(table: u64, asid: u16) -> [u8; 64] {
    guest_cd_stalling(table, asid, false)
}

/// The same, with CD.S as given.
pub fn guest_cd_stalling(table: u64, asid: u16, stall: bool) -> [u8; 64] {
    let half = TableHalf {
        ttb: table,
        tsz: 64 - 39,
        granule: Granule::Size4K,
        irgn: 1,
        orgn: 1,
        sh: 3,
        top_byte_ignore: false,
        hierarchical_attribute_disable: false,
        start_table_non_secure: false,
        unprivileged_access_disable: false,
    };
    let cd = ContextDescriptor::for_half(half, 0b010, vmsa::MAIR, asid, true, stall);
    let mut out = [0u8; 64];
    for (i, w) in cd.encode().iter().enumerate() {
        out[8 * i..8 * i + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}
