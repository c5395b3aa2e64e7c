//! The vSVA flows: the edu device walking this guest's own page tables.
//!
//! The guest builds a device table in its RAM (x86 4-level paging on x86_64,
//! a VMSAv8-64 stage-1 table of 39 input bits on aarch64) that maps
//! guest-virtual addresses far from its guest-physical RAM, binds it on edu
//! (requests without PASID: edu has no PASID capability), has edu DMA to a
//! guest-virtual address, remaps and invalidates, unbinds. On aarch64 it
//! also binds a context-descriptor table of its own.

use vsva_abi::BootInfo;
use vsva_guest::HvError;
use vsva_guest::sva::{
    self, CdTable, CdTableFormat, DeviceId, Granule, Install, InvalidateEntryExt, IommuKind,
    Stage1Table, SvaCaps, SvaInfoExt, entry,
};

use super::{code, edu, edu_dma, find_edu, parse};
use crate::arch;

pub mod bench;
pub mod events;

/// Guest-virtual addresses edu is given: far from the RAM's guest-physical
/// addresses, inside a 39-bit input range (aarch64) and canonical (x86).
const GVA_SRC: u64 = 0x12_3400_0000;
const GVA_DST: u64 = GVA_SRC + 0x1000;
const GVA_OUT: u64 = GVA_SRC + 0x2000;

/// Page-table pages and data pages, from a part of RAM nothing else uses.
struct Pages {
    next: u64,
    end: u64,
}

impl Pages {
    fn new(info: &BootInfo) -> Self {
        let start = info.ram_base + info.ram_size / 2 + 0x20_0000;
        Self {
            next: start,
            end: start + 0x10_0000,
        }
    }

    /// A zeroed page; its guest-physical address (identity mapped).
    fn page(&mut self) -> u64 {
        if self.next >= self.end {
            say!("sva: out of pages");
            vsva_guest::exit(code::SVA_FAILED);
        }
        let at = self.next;
        self.next += 0x1000;
        arch::memory(at, 0x1000).fill(0);
        at
    }
}

fn read_u64(at: u64) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(arch::memory(at, 8));
    u64::from_le_bytes(b)
}

fn write_u64(at: u64, value: u64) {
    arch::memory(at, 8).copy_from_slice(&value.to_le_bytes());
}

/// The device's stage-1 table in this guest's RAM.
struct DeviceTable {
    root: u64,
}

/// x86 paging (Intel SDM Vol. 3A §4.5, VT-d §9.7): present, writable, user
/// (device requests are user requests).
const X86_ENTRY: u64 = 0b111;
/// VMSAv8-64 (Arm ARM D8.3): table / page descriptor, AttrIndx 0, inner
/// shareable, AF, nG, AP[1] (unprivileged access: device transactions).
const VMSA_TABLE: u64 = 0b11;
const VMSA_PAGE: u64 = 0b11 | (0b11 << 8) | (1 << 10) | (1 << 11) | (1 << 6);
/// MAIR Attr0: normal write-back.
const VMSA_MAIR: u64 = 0xff;
/// Table walks write-back, inner shareable (IRGN0/ORGN0 0b01, SH0 0b11).
const VMSA_WALK: u32 = sva::walk_attributes(0b01, 0b01, 0b11);
const VMSA_INPUT_BITS: u32 = 39;

impl DeviceTable {
    fn new(pages: &mut Pages) -> Self {
        Self { root: pages.page() }
    }

    /// The lookup shifts from the root down to the leaf level's.
    fn shifts() -> &'static [u32] {
        if cfg!(target_arch = "x86_64") {
            &[39, 30, 21, 12]
        } else {
            &[30, 21, 12]
        }
    }

    /// Maps 4 KiB page `gva` to guest-physical `gpa`, read-write.
    fn map(&self, pages: &mut Pages, gva: u64, gpa: u64) {
        let (table_bits, leaf_bits, mask) = if cfg!(target_arch = "x86_64") {
            (X86_ENTRY, X86_ENTRY, 0x000f_ffff_ffff_f000)
        } else {
            (VMSA_TABLE, VMSA_PAGE, 0x0000_ffff_ffff_f000)
        };
        let (&leaf, walk) = Self::shifts().split_last().unwrap_or((&12, &[]));
        let mut table = self.root;
        for &shift in walk {
            let at = table + ((gva >> shift) & 511) * 8;
            let entry = read_u64(at);
            table = if entry & 1 == 0 {
                let next = pages.page();
                write_u64(at, next | table_bits);
                next
            } else {
                entry & mask
            };
        }
        write_u64(table + ((gva >> leaf) & 511) * 8, gpa | leaf_bits);
    }

    fn stage1(&self) -> Stage1Table {
        if cfg!(target_arch = "x86_64") {
            Stage1Table::x86_four_level(self.root)
        } else {
            Stage1Table::vmsa(
                Granule::Size4K,
                self.root,
                VMSA_INPUT_BITS,
                VMSA_MAIR,
                VMSA_WALK,
            )
        }
    }
}

/// Stops on a failed call with what it was.
fn check<T>(what: &str, result: Result<T, HvError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => {
            say!("sva: {what} failed: {e}");
            vsva_guest::exit(code::SVA_FAILED)
        }
    }
}

fn expect(what: &str, ok: bool) {
    if !ok {
        say!("sva: {what}");
        vsva_guest::exit(code::SVA_DMA_LOST);
    }
}

/// Invalidates the device's translation of `gva` (leaf only: the guest
/// changed one leaf).
fn invalidate_page(device: DeviceId, gva: u64) {
    let entries = [entry::iotlb_range(device, None, gva, 0x1000, true)];
    check(
        "invalidation",
        sva::invalidate(&entries).map_err(HvError::from),
    );
}

/// edu copies 64 bytes from device address `src` to `dst` through its
/// internal buffer.
fn copy(bar: u64, src: u64, dst: u64) {
    edu_dma(bar, src, edu::BUFFER, false);
    edu_dma(bar, edu::BUFFER, dst, true);
}

fn filled(at: u64, byte: u8) -> bool {
    arch::memory(at, edu::LEN).iter().all(|&b| b == byte)
}

/// The edu device, its requester ID as the window shows it, and what vsva
/// allows for it.
fn device(info: &BootInfo) -> (u64, DeviceId, vsva_guest::sva::SvaInfo) {
    let Some((slot, bar)) = find_edu(info) else {
        say!("no edu in the configuration window");
        vsva_guest::exit(code::NO_EDU);
    };
    let id = (slot as u32) << 3;
    let si = check("SvaInfo", sva::info(id));
    let iommu = match si.iommu() {
        Some(IommuKind::Vtd) => "VT-d",
        Some(IommuKind::SmmuV3) => "SMMUv3",
        None => "no IOMMU",
    };
    let install = match si.install() {
        Some(Install::Nested) => "nested on stage 2",
        Some(Install::Shadow) => "shadowed by vsva",
        None => "not bindable",
    };
    say!(
        "sva: edu (requester {id:#06x}) is behind {iommu}, tables {install}; caps {:?}; formats {:?}; PASIDs of {} bits; batches of up to {} invalidations",
        si.caps(),
        si.formats(),
        si.pasid_bits,
        si.max_invalidations
    );
    (bar, id, si)
}

/// `sva[=ADDR]`: bind, DMA to a guest-virtual address, remap + invalidate,
/// (with ADDR: a leaf outside this partition's RAM), unbind.
pub fn stage1(info: &BootInfo, outside: &str) {
    let (bar, dev, si) = device(info);
    if !si.caps().contains(SvaCaps::BIND) {
        say!("sva: the device takes no binds");
        vsva_guest::exit(code::SVA_FAILED);
    }
    match sva::pasid_alloc() {
        Ok(pasid) => {
            say!("sva: PASID {pasid} allocated from the global namespace");
            check("PasidFree", sva::pasid_free(pasid));
        }
        Err(e) => say!("sva: no PASID ({e})"),
    }
    let mut pages = Pages::new(info);
    let table = DeviceTable::new(&mut pages);
    let (src, a, b) = (pages.page(), pages.page(), pages.page());
    table.map(&mut pages, GVA_SRC, src);
    table.map(&mut pages, GVA_DST, a);
    check("BindStage1", sva::bind_stage1(dev, None, &table.stage1()));
    say!("sva: bound its own table (root {:#x}) on edu", table.root);

    let first = 0xa0u8.wrapping_add(info.partition as u8);
    arch::memory(src, edu::LEN).fill(first);
    copy(bar, GVA_SRC, GVA_DST);
    expect("the DMA to the GVA did not arrive", filled(a, first));
    say!("sva: edu wrote to GVA {GVA_DST:#x}, which landed in GPA {a:#x}");

    let second = first.wrapping_add(0x10);
    arch::memory(src, edu::LEN).fill(second);
    table.map(&mut pages, GVA_DST, b);
    invalidate_page(dev, GVA_DST);
    copy(bar, GVA_SRC, GVA_DST);
    expect(
        "after the remap the DMA did not move",
        filled(b, second) && filled(a, first),
    );
    say!("sva: remapped GVA {GVA_DST:#x} to GPA {b:#x} and invalidated: the next DMA landed there");

    if let Some(out) = parse(outside) {
        table.map(&mut pages, GVA_OUT, out);
        invalidate_page(dev, GVA_OUT);
        edu_dma(bar, edu::BUFFER, GVA_OUT, true);
        say!("sva: DMA to GVA {GVA_OUT:#x}, whose leaf names {out:#x} outside this partition");
    }

    check("UnbindStage1", sva::unbind_stage1(dev, None));
    // Back on the partition's own map: edu reads the source by its
    // guest-physical address, and its write to the GVA is refused.
    let third = second.wrapping_add(0x10);
    arch::memory(src, edu::LEN).fill(third);
    copy(bar, src, GVA_DST);
    expect(
        "after unbind the DMA did not go back to the partition's map, or reached the GVA",
        filled(b, second) && filled(a, first),
    );
    say!(
        "sva: unbound: edu reads by guest-physical address again and its DMA to the GVA is refused"
    );
}

/// A context descriptor (SMMUv3 §5.4) for a 39-bit, 4 KiB-granule table at
/// `ttb0` with `asid`: T0SZ 25, walks write-back inner shareable, EPD1,
/// V, IPS 40 bits, AA64, R, A, ASET (non-shared), the ASID; MAIR.
fn write_cd(at: u64, ttb0: u64, asid: u16) {
    let word0 = 25
        | (0b01 << 8)
        | (0b01 << 10)
        | (0b11 << 12)
        | (1 << 30)
        | (1 << 31)
        | (0b010 << 32)
        | (1 << 41)
        | (1 << 45)
        | (1 << 46)
        | (1 << 47)
        | (u64::from(asid) << 48);
    let words = [word0, ttb0 & 0x000f_ffff_ffff_fff0, 0, VMSA_MAIR];
    for (i, w) in words.into_iter().enumerate() {
        write_u64(at + 8 * i as u64, w);
    }
    for i in 4..8 {
        write_u64(at + 8 * i, 0);
    }
}

/// `sva-cd`: binds a context-descriptor table of the guest's own (SMMUv3);
/// the guest points its CD at another table, invalidates the CD and the
/// old ASID, and the next DMA follows the new table. On VT-d the bind is
/// refused as unsupported.
pub fn cd_table(info: &BootInfo) {
    let (bar, dev, si) = device(info);
    let mut pages = Pages::new(info);
    let cd = pages.page();
    let (ta, tb) = (DeviceTable::new(&mut pages), DeviceTable::new(&mut pages));
    let (src, a, c) = (pages.page(), pages.page(), pages.page());
    for (table, dst) in [(&ta, a), (&tb, c)] {
        table.map(&mut pages, GVA_SRC, src);
        table.map(&mut pages, GVA_DST, dst);
    }
    write_cd(cd, ta.root, 5);
    let bound = sva::bind_cd_table(dev, &CdTable::new(CdTableFormat::Linear, cd, 0));
    if !si.caps().contains(SvaCaps::CD_TABLE) {
        expect(
            "a CD table bind was not refused as unsupported",
            bound == Err(HvError::Unsupported),
        );
        say!("sva: a CD table bind is unsupported here, as SvaInfo says");
        return;
    }
    check("BindCdTable", bound);
    say!("sva: bound its own CD table at {cd:#x} on edu");
    let first = 0xc0u8.wrapping_add(info.partition as u8);
    arch::memory(src, edu::LEN).fill(first);
    copy(bar, GVA_SRC, GVA_DST);
    expect(
        "the DMA through the guest's CD did not arrive",
        filled(a, first),
    );
    say!("sva: DMA through its CD (ASID 5) landed in GPA {a:#x}");

    let second = first.wrapping_add(0x10);
    arch::memory(src, edu::LEN).fill(second);
    write_cd(cd, tb.root, 6);
    let entries = [
        entry::pasid_cache(dev, None),
        entry::iotlb_all(dev, None).with_asid(5),
    ];
    check(
        "CD invalidation",
        sva::invalidate(&entries).map_err(HvError::from),
    );
    copy(bar, GVA_SRC, GVA_DST);
    expect(
        "the changed CD did not take effect after its invalidation",
        filled(c, second) && filled(a, first),
    );
    say!(
        "sva: changed its CD to another table (ASID 6) and invalidated: the next DMA landed in GPA {c:#x}"
    );

    check("UnbindCdTable", sva::unbind_cd_table(dev));
    arch::memory(src, edu::LEN).fill(second.wrapping_add(0x10));
    copy(bar, src, GVA_DST);
    expect(
        "after unbind the DMA did not go back to the partition's map, or reached the GVA",
        filled(c, second),
    );
    say!("sva: unbound its CD table: the GVA is refused again");
}

/// vSVA calls with hostile structs: each must be refused with its error.
pub fn hostile(info: &BootInfo) {
    use vsva_guest::Call;
    use vsva_guest::sva::{Invalidate, Pasid, SvaInfo, SvaStruct, UnbindStage1};
    let end = info.ram_base + info.ram_size;
    let buf = Pages::new(info).page();
    let put = |at: u64, bytes: &[u8]| arch::memory(at, bytes.len()).copy_from_slice(bytes);
    let encode = |value: &dyn Fn(&mut [u8]), at: u64, size: usize| {
        let mut b = [0u8; 64];
        value(&mut b[..size]);
        put(at, &b[..size]);
    };
    let info_for = |device| SvaInfo {
        size: 48,
        device,
        ..Default::default()
    };
    // A valid SvaInfo at `buf` for a device the window does not show.
    encode(&|b| info_for(0x1f8).encode(b), buf, 48);
    // One crossing the end of RAM (its size field still inside).
    put(end - 8, &48u32.to_le_bytes());
    // A too-short one, and a longer one with a non-zero unknown tail.
    let short = buf + 0x100;
    encode(&|b| info_for(0).encode(b), short, 48);
    put(short, &4u32.to_le_bytes());
    let long = buf + 0x200;
    encode(&|b| info_for(0).encode(b), long, 48);
    put(long, &56u32.to_le_bytes());
    put(long + 52, &[1]);
    let pasid = buf + 0x300;
    encode(
        &|b| {
            Pasid {
                size: 16,
                flags: 0,
                pasid: 999,
                reserved: 0,
            }
            .encode(b)
        },
        pasid,
        16,
    );
    let unbind = buf + 0x400;
    encode(
        &|b| {
            UnbindStage1 {
                size: 16,
                device: 0,
                flags: 0,
                pasid: 0,
            }
            .encode(b)
        },
        unbind,
        16,
    );
    let batch = buf + 0x500;
    encode(
        &|b| {
            Invalidate {
                size: 24,
                entry_size: 32,
                count: sva::MAX_INVALIDATIONS + 1,
                flags: 0,
                entries: buf + 0x800,
            }
            .encode(b)
        },
        batch,
        24,
    );
    let cases: [(&str, Call, u64, HvError); 8] = [
        (
            "a struct outside RAM",
            Call::SvaInfo,
            end,
            HvError::BadArgument,
        ),
        (
            "a struct crossing the end of RAM",
            Call::SvaInfo,
            end - 8,
            HvError::BadArgument,
        ),
        (
            "a struct shorter than its first version",
            Call::SvaInfo,
            short,
            HvError::BadArgument,
        ),
        (
            "an unknown non-zero tail",
            Call::SvaInfo,
            long,
            HvError::TooBig,
        ),
        (
            "a device not in the window",
            Call::SvaInfo,
            buf,
            HvError::NotFound,
        ),
        (
            "freeing a PASID not held",
            Call::PasidFree,
            pasid,
            HvError::NotFound,
        ),
        (
            "unbinding what is not bound",
            Call::UnbindStage1,
            unbind,
            HvError::NotFound,
        ),
        (
            "an invalidation batch too large",
            Call::Invalidate,
            batch,
            HvError::BadArgument,
        ),
    ];
    for (what, call, at, expected) in cases {
        let (status, _) = vsva_guest::raw(call.function_id(), [at, 0, 0, 0, 0, 0]);
        if HvError::from_status(status) != Some(expected) {
            say!("hostile: vSVA {what}: status {status}, expected {expected:?}");
            vsva_guest::exit(code::HOSTILE_ACCEPTED);
        }
    }
    // Size 0: a probe that reports the size vsva knows.
    put(buf + 0x600, &0u32.to_le_bytes());
    let (status, value) =
        vsva_guest::raw(Call::SvaInfo.function_id(), [buf + 0x600, 0, 0, 0, 0, 0]);
    if (status, value) != (0, SvaInfo::SIZE as u64) {
        say!("hostile: the SvaInfo probe answered {status}, {value}");
        vsva_guest::exit(code::HOSTILE_ACCEPTED);
    }
    say!(
        "hostile: all {} bad vSVA calls refused, the probe answered",
        cases.len()
    );
}
