//! Hostile calls against the service over the SMMUv3 model: the struct
//! rules, malformed VMSAv8 binds, malformed guest CD tables and the
//! conflicts between the two kinds of bind, invalidation batches refused at
//! entry k (observed through the model's IOTLB), guest tables aimed outside
//! the partition, and one partition aiming at another's device and PASIDs.

mod common;

use common::calls::{
    STRUCTS, alloc, bind, call, cd_args, entry, free, info_args, invalidate, refused, unbind,
    unbind_cd, vmsa_args,
};
use common::smmu::{Part, Rig, Service};
use common::{Layout, VmsaTable, device, pasids, vmsa};
use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, EntryFlags, InvalidateEntry, InvalidateKind,
    TABLE_WINDOW_BASE,
};
use vsva_abi::{Call, HvError};
use vsva_iommu::smmuv3::model::SmmuConfig;
use vsva_sva::PartitionId;
use vsva_sva::guest::GuestMemory;

const SID_A: u32 = 0x10;
const DEV_A: u32 = 0x10;
const SID_B: u32 = 0x28;
const DEV_B: u32 = 0x18;
const A: PartitionId = PartitionId(1);
const B: PartitionId = PartitionId(2);
/// A's RAM starts on an odd page, so its end is off every 8 KiB boundary:
/// aligned tables larger than a page can cross it.
const A_BASE: u64 = 0x4000_1000;
const B_BASE: u64 = 0x8000_0000;
const VA: u64 = 0x12_3456_7000;

/// A's RAM at A_BASE, 128 pages, PASID quota `quota`.
fn layout_a(quota: u32) -> Layout {
    Layout {
        quota,
        budget: 64,
        ..Layout::new(A, A_BASE, 128)
    }
}

/// The two partitions these tests set against each other.
impl Rig {
    /// A (128 pages at A_BASE) and B (16 pages at B_BASE), 20-bit PASID
    /// devices, quota 4 each.
    fn two(&self, sva: &mut Service<'_>) -> (Part, Part) {
        let a = self.partition(sva, layout_a(4), device(SID_A, DEV_A, pasids(20)));
        let b = Layout {
            budget: 64,
            ..Layout::new(B, B_BASE, 16)
        };
        let b = self.partition(sva, b, device(SID_B, DEV_B, pasids(20)));
        (a, b)
    }

    /// A one-byte DMA write by A's device: whether it was taken.
    fn dma(&self, pasid: Option<u32>, va: u64, byte: u8) -> bool {
        self.model.dma_write(SID_A, pasid, va, &[byte]).is_ok()
    }
}

/// A PASID of A's and a table mapping VA to a page of A's: (PASID, table,
/// page).
fn mapped(sva: &mut Service<'_>, a: &mut Part) -> (u32, VmsaTable, u64) {
    let p = alloc(sva, a).unwrap();
    let t = VmsaTable::new(&mut a.g);
    let d = a.g.page();
    t.map(&mut a.g, VA, d, 0);
    (p, t, d)
}

/// The struct rules on the SMMU rig, the CD-table calls included: probe,
/// short, too big, a non-zero tail, crossing the end of RAM; nothing bound,
/// placed in the table window or allocated.
#[test]
fn struct_rules_hold_on_the_smmu() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let pages = rig.mem.allocated_pages();
    let (at, end) = (a.g.scratch, a.g.ram.ram.end());
    for (c, size) in STRUCTS {
        let mut raw = |a: &mut Part, gpa: u64, bytes: &[u8]| {
            a.g.ram.write(gpa, bytes).unwrap();
            sva.call(A, c, gpa, &mut a.g.ram, &mut a.s2)
        };
        let mut probe = vec![0x5au8; 64];
        probe[..4].fill(0);
        assert_eq!(raw(&mut a, at, &probe), Ok(u64::from(size)), "{c:?}");
        let mut back = vec![0u8; 64];
        a.g.ram.read(at, &mut back).unwrap();
        assert_eq!(back, probe, "{c:?}: a probe writes nothing");
        for (bad, e) in [(size - 1, HvError::BadArgument), (4097, HvError::TooBig)] {
            assert_eq!(raw(&mut a, at, &bad.to_le_bytes()), Err(e), "{c:?} {bad}");
        }
        let mut long = vec![0u8; 4096];
        long[..4].copy_from_slice(&4096u32.to_le_bytes());
        long[size as usize + 1] = 0x80;
        assert_eq!(raw(&mut a, at, &long), Err(HvError::TooBig), "{c:?}");
        a.g.ram.write(at, &[0; 4096]).unwrap();
        let crossing = end - u64::from(size) + 4;
        let bad = Err(HvError::BadArgument);
        assert_eq!(raw(&mut a, crossing, &size.to_le_bytes()), bad, "{c:?}");
        assert_eq!(raw(&mut a, end - 4, &size.to_le_bytes()), bad, "{c:?}");
        assert_eq!(sva.call(A, c, A_BASE - 4, &mut a.g.ram, &mut a.s2), bad);
    }
    assert_eq!((sva.bindings_of(A), sva.pasids_in_use()), (0, 0));
    assert!(a.s2.placed.is_empty());
    assert_eq!(rig.mem.allocated_pages(), pages);
}

/// Malformed VMSAv8 binds: each refused with its error, nothing bound,
/// placed or allocated; then the same table binds.
#[test]
fn malformed_vmsa_binds_are_refused_and_change_nothing() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, b) = rig.two(&mut sva);
    let (p, t, d) = mapped(&mut sva, &mut a);
    let end = a.g.ram.ram.end();
    assert_eq!(end % 0x4000, 0x1000, "A's RAM ends off 16 KiB");
    let ok = vmsa_args(DEV_A, Some(p), t.root);
    let x86_flags = [BindFlags::X86_SRE, BindFlags::X86_WPE, BindFlags::X86_EAFE];
    let (bad, unsupported) = (HvError::BadArgument, HvError::Unsupported);
    #[rustfmt::skip]
    let mut cases = vec![
        ("x86 4-level", BindStage1 { format: 1, input_bits: 48, mair: 0, walk: 0, ..ok }, unsupported),
        ("x86 5-level", BindStage1 { format: 2, input_bits: 57, mair: 0, walk: 0, ..ok }, unsupported),
        ("format 0", BindStage1 { format: 0, ..ok }, bad),
        ("format 6", BindStage1 { format: 6, ..ok }, bad),
        ("input 24", BindStage1 { input_bits: 24, ..ok }, bad),
        ("input 49", BindStage1 { input_bits: 49, ..ok }, bad),
        ("input 64", BindStage1 { input_bits: 64, ..ok }, bad),
        ("root + 2K", BindStage1 { root: ok.root + 0x800, ..ok }, bad),
        ("40 bits, root + 32", BindStage1 { input_bits: 40, root: ok.root + 32, ..ok }, bad),
        ("16K granule crossing the end", BindStage1 { format: 4, input_bits: 47, root: end - 0x1000, ..ok }, bad),
        ("root below RAM", BindStage1 { root: A_BASE - 0x1000, ..ok }, bad),
        ("root at the end", BindStage1 { root: end, ..ok }, bad),
        ("root in B", BindStage1 { root: B_BASE, ..ok }, bad),
        ("root at B's host", BindStage1 { root: b.g.ram.ram.host, ..ok }, bad),
        ("root in the table window", BindStage1 { root: TABLE_WINDOW_BASE, ..ok }, bad),
        ("walk SH 01", BindStage1 { walk: 0b01_01_01, ..ok }, bad),
        ("walk bit 6", BindStage1 { walk: ok.walk | 1 << 6, ..ok }, bad),
        ("flag bit 5", BindStage1 { flags: ok.flags | 1 << 5, ..ok }, bad),
        ("reserved", BindStage1 { reserved: 1, ..ok }, bad),
        ("PASID not held", BindStage1 { pasid: p + 1, ..ok }, HvError::NotFound),
        ("PASID 2^20", BindStage1 { pasid: 1 << 20, ..ok }, bad),
        ("pasid without PASID", BindStage1 { flags: 0, ..ok }, bad),
    ];
    for f in x86_flags {
        cases.push((
            "x86 flag",
            BindStage1 {
                flags: ok.flags | f.bits(),
                ..ok
            },
            unsupported,
        ));
    }
    let pages = rig.mem.allocated_pages();
    refused(&mut sva, &mut a, Call::BindStage1, &cases);
    assert_eq!(sva.bindings_of(A), 0);
    assert!(a.s2.placed.is_empty(), "no CD table made");
    assert_eq!(rig.mem.allocated_pages(), pages);
    assert!(!rig.dma(Some(p), VA, 1));
    let tbi = BindStage1 {
        flags: ok.flags | BindFlags::VMSA_TBI.bits(),
        ..ok
    };
    assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &tbi), Ok(0));
    assert!(rig.dma(Some(p), VA, 2));
    assert_eq!(a.g.ram.byte(d), 2);
}

/// PASIDs wider than the device, a PASID freed while bound, a double bind:
/// refused, the binding kept; bind/unbind cycles leak nothing.
#[test]
fn pasids_and_double_binds_on_the_smmu() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let narrow = device(SID_A, DEV_A, pasids(4));
    let mut a = rig.partition(&mut sva, layout_a(17), narrow);
    let held: Vec<u32> = (0..17).map(|_| alloc(&mut sva, &mut a).unwrap()).collect();
    let (t1, t2) = (VmsaTable::new(&mut a.g), VmsaTable::new(&mut a.g));
    let (d1, d2) = (a.g.page(), a.g.page());
    t1.map(&mut a.g, VA, d1, 0);
    t2.map(&mut a.g, VA, d2, 0);
    for p in [16, 17] {
        assert_eq!(
            bind(&mut sva, &mut a, DEV_A, Some(p), t1.root),
            Err(HvError::Unsupported)
        );
    }
    assert!(a.s2.placed.is_empty());
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(15), t1.root), Ok(0));
    let (pages, placed) = (rig.mem.allocated_pages(), a.s2.placed.len());
    for root in [t1.root, t2.root] {
        assert_eq!(
            bind(&mut sva, &mut a, DEV_A, Some(15), root),
            Err(HvError::Busy)
        );
    }
    assert_eq!(free(&mut sva, &mut a, 15), Err(HvError::Busy));
    assert!(rig.dma(Some(15), VA, 3));
    assert_eq!((a.g.ram.byte(d1), a.g.ram.byte(d2)), (3, 0));
    for _ in 0..3 {
        assert_eq!(unbind(&mut sva, &mut a, DEV_A, Some(15)), Ok(0));
        assert_eq!(
            unbind(&mut sva, &mut a, DEV_A, Some(15)),
            Err(HvError::NotFound)
        );
        assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(15), t2.root), Ok(0));
    }
    assert_eq!(
        (rig.mem.allocated_pages(), a.s2.placed.len()),
        (pages, placed)
    );
    assert!(rig.dma(Some(15), VA, 4));
    assert_eq!(a.g.ram.byte(d2), 4);
    assert_eq!(sva.pasids_of(A), held);
}

/// Malformed guest CD tables: each refused with its error, the device left
/// on stage 2; a CD table and stage-1 binds exclude each other (Busy);
/// unbinding a CD table that is not there is not found.
#[test]
fn malformed_cd_tables_and_bind_conflicts() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, b) = rig.two(&mut sva);
    let end = a.g.ram.ram.end();
    let page = a.g.page();
    let ok = cd_args(DEV_A, page, 0, 4);
    let (bad, unsupported) = (HvError::BadArgument, HvError::Unsupported);
    #[rustfmt::skip]
    let cases = [
        ("config 3", BindCdTable { config: 3, ..ok }, bad),
        ("format 3", BindCdTable { format: 3, ..ok }, bad),
        ("default substream 3", BindCdTable { default_substream: 3, ..ok }, bad),
        ("flag bit 1", BindCdTable { flags: 2, ..ok }, bad),
        ("walk SH 01", BindCdTable { walk: 0b01_01_01, ..ok }, bad),
        ("walk bit 6", BindCdTable { walk: 1 << 6, ..ok }, bad),
        ("cd_max 21", BindCdTable { cd_max: 21, ..ok }, unsupported),
        ("linear + 32", BindCdTable { table: page + 32, ..ok }, bad),
        ("linear + 1", BindCdTable { table: page + 1, ..ok }, bad),
        ("2-level L1 of 512 bytes + 256", cd_args(DEV_A, page + 256, 1, 12), bad),
        ("2-level 4K leaves, cd_max 6", cd_args(DEV_A, page, 1, 6), bad),
        ("2-level 64K leaves, cd_max 10", cd_args(DEV_A, page, 2, 10), bad),
        ("2-level L1 of 8 KiB crossing the end", cd_args(DEV_A, end - 0x1000, 1, 16), bad),
        ("linear crossing the end", cd_args(DEV_A, end - 0x1000, 0, 7), bad),
        ("table at the end", cd_args(DEV_A, end, 0, 0), bad),
        ("table below RAM", cd_args(DEV_A, A_BASE - 0x1000, 0, 0), bad),
        ("table in B", cd_args(DEV_A, B_BASE, 0, 0), bad),
        ("table at B's host", cd_args(DEV_A, b.g.ram.ram.host, 0, 0), bad),
        ("table in the window", cd_args(DEV_A, TABLE_WINDOW_BASE, 0, 0), bad),
    ];
    refused(&mut sva, &mut a, Call::BindCdTable, &cases);
    assert_eq!(sva.bindings_of(A), 0);
    let e = entry(InvalidateKind::PasidCacheAll, DEV_A, None, 0, 0);
    assert_eq!(
        invalidate(&mut sva, &mut a, &[e]),
        (Err(HvError::NotFound), 0)
    );
    assert!(rig.dma(None, page + 0x10, 1), "stage 2 only");
    assert_eq!(a.g.ram.byte(page + 0x10), 1);
    assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), Err(HvError::NotFound));

    // A CD table and stage-1 binds on the device exclude each other.
    let t = VmsaTable::new(&mut a.g);
    let cd = |sva: &mut Service<'_>, a: &mut Part| call(sva, a, Call::BindCdTable, &ok);
    let busy = Err(HvError::Busy);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, None, t.root), Ok(0));
    assert_eq!(cd(&mut sva, &mut a), busy);
    assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), Err(HvError::NotFound));
    assert_eq!(unbind(&mut sva, &mut a, DEV_A, None), Ok(0));
    assert_eq!(cd(&mut sva, &mut a), Ok(0));
    assert_eq!(cd(&mut sva, &mut a), busy);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, None, t.root), busy);
    let p = alloc(&mut sva, &mut a).unwrap();
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(p), t.root), busy);
    let nf = Err(HvError::NotFound);
    assert_eq!(unbind(&mut sva, &mut a, DEV_A, None), nf);
    assert_eq!(sva.bindings_of(A), 1);
    assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), Ok(0));
    assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), nf);
    assert_eq!(sva.bindings_of(A), 0);
}

/// What the SMMU lacks: a 2-level CD table without IDR0.CD2L, and STALL
/// without the STALL cap, are unsupported; a 2-level format whose cd_max is
/// not above its leaf size, and a flag bit vsva does not define, are bad
/// arguments. The device stays on stage 2.
#[test]
fn cd_table_features_the_smmu_lacks_are_refused() {
    let mut no_cd2l = SmmuConfig::full();
    no_cd2l.idr[0] &= !(1 << 19);
    let (bad, unsupported) = (HvError::BadArgument, HvError::Unsupported);
    #[rustfmt::skip]
    let cases = [
        (no_cd2l, cd_args(DEV_A, 0, 1, 8), unsupported),
        (no_cd2l, cd_args(DEV_A, 0, 2, 11), unsupported),
        (no_cd2l, cd_args(DEV_A, 0, 2, 10), bad),
        (SmmuConfig::full(), cd_args(DEV_A, 0, 1, 6), bad),
        (SmmuConfig::qemu(), cd_args(DEV_A, 0, 1, 0), bad),
        (SmmuConfig::qemu(), BindCdTable { flags: 1, ..cd_args(DEV_A, 0, 0, 0) }, unsupported),
        (SmmuConfig::qemu(), BindCdTable { flags: 2, ..cd_args(DEV_A, 0, 0, 0) }, bad),
    ];
    for (config, args, e) in cases {
        let rig = Rig::new(config);
        let mut sva = rig.service();
        let wide = device(SID_A, DEV_A, pasids(20));
        let mut a = rig.partition(&mut sva, layout_a(4), wide);
        let table = a.g.page();
        let args = BindCdTable { table, ..args };
        assert_eq!(
            call(&mut sva, &mut a, Call::BindCdTable, &args),
            Err(e),
            "{args:?}"
        );
        assert_eq!(sva.bindings_of(A), 0);
        assert!(rig.dma(None, table, 1), "stage 2 only");
        assert_eq!(a.g.ram.byte(table), 1);
    }
}

/// abi/README.md, BindCdTable: BadArgument for "a linear table not 64-byte
/// aligned": a linear table of 16 CDs at a 64-byte boundary is taken.
#[test]
fn a_linear_cd_table_needs_64_byte_alignment_only() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let page = a.g.page();
    let args = cd_args(DEV_A, page + 64, 0, 4);
    assert_eq!(call(&mut sva, &mut a, Call::BindCdTable, &args), Ok(0));
    assert_eq!(sva.bindings_of(A), 1);
}

/// abi/README.md, BindCdTable: "for `config` abort or bypass the table
/// fields are checked for their values only": a table outside RAM is taken
/// (and not used), an unknown format or too large a cd_max is not. Abort
/// refuses the device's DMA, bypass gives it stage 2 only.
#[test]
fn abort_and_bypass_cd_tables_check_values_only() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let data = a.g.page();
    for (config, lands) in [(0, false), (1, true)] {
        for (format, cd_max, e) in [(3, 0, HvError::BadArgument), (0, 21, HvError::Unsupported)] {
            let args = BindCdTable {
                config,
                ..cd_args(DEV_A, 0, format, cd_max)
            };
            assert_eq!(call(&mut sva, &mut a, Call::BindCdTable, &args), Err(e));
        }
        let args = BindCdTable {
            config,
            ..cd_args(DEV_A, 0xfee0_0000, 0, 4)
        };
        assert_eq!(
            call(&mut sva, &mut a, Call::BindCdTable, &args),
            Ok(0),
            "{config}"
        );
        assert_eq!(rig.dma(None, data, config as u8 + 1), lands, "{config}");
        assert!(!rig.dma(Some(1), data, 9));
        assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), Ok(0));
    }
    assert_eq!((a.g.ram.byte(data), sva.bindings_of(A)), (2, 0));
}

/// A batch refused at entry 2 of 4 on the nested SMMU: entries 0 and 1
/// invalidated the model's IOTLB (DMA reaches the remapped pages), 2 and 3
/// not (the cached old pages). Then entry errors peculiar to the SMMU: a
/// range beyond the bound 39-bit table, ASID without a CD table; and with
/// a CD table, a SubstreamID beyond its cd_max.
#[test]
fn invalidation_batches_stop_at_the_refused_entry() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let p = alloc(&mut sva, &mut a).unwrap();
    let t = VmsaTable::new(&mut a.g);
    let vas: [u64; 4] = core::array::from_fn(|i| VA + 0x1000 * i as u64);
    let old: [u64; 4] = core::array::from_fn(|_| a.g.page());
    let new: [u64; 4] = core::array::from_fn(|_| a.g.page());
    for i in 0..4 {
        t.map(&mut a.g, vas[i], old[i], 0);
    }
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(p), t.root), Ok(0));
    for (i, &va) in vas.iter().enumerate() {
        assert!(rig.dma(Some(p), va, 1));
        t.map(&mut a.g, va, new[i], 0);
    }
    let range = |va| entry(InvalidateKind::IotlbRange, DEV_A, Some(p), va, 0x1000);
    let batch = [
        range(vas[0]),
        range(vas[1]),
        range(vas[2] + 0x10),
        range(vas[3]),
    ];
    assert_eq!(
        invalidate(&mut sva, &mut a, &batch),
        (Err(HvError::BadArgument), 2)
    );
    for (i, &va) in vas.iter().enumerate() {
        assert!(rig.dma(Some(p), va, 2));
        let landed = (a.g.ram.byte(old[i]), a.g.ram.byte(new[i]));
        assert_eq!(landed, if i < 2 { (1, 2) } else { (2, 0) }, "{i}");
    }
    let asid = EntryFlags::ASID.bits() | EntryFlags::PASID.bits();
    #[rustfmt::skip]
    let cases = [
        ("past 2^39", InvalidateEntry { address: (1 << 39) - 0x1000, size: 0x2000, ..range(0) }, HvError::BadArgument),
        ("ASID without a CD table", InvalidateEntry { flags: asid, asid: 1, ..range(VA) }, HvError::BadArgument),
        ("PASID of nothing bound", InvalidateEntry { pasid: p + 1, ..range(VA) }, HvError::NotFound),
    ];
    for (name, e, err) in cases {
        assert_eq!(
            invalidate(&mut sva, &mut a, &[range(vas[2]), e]),
            (Err(err), 1),
            "{name}"
        );
    }
    assert!(rig.dma(Some(p), vas[2], 3));
    assert_eq!(a.g.ram.byte(new[2]), 3, "entry 0 took effect");

    assert_eq!(unbind(&mut sva, &mut a, DEV_A, Some(p)), Ok(0));
    let cds = a.g.page();
    let args = cd_args(DEV_A, cds, 0, 4);
    assert_eq!(call(&mut sva, &mut a, Call::BindCdTable, &args), Ok(0));
    let cd = |pasid| entry(InvalidateKind::PasidCache, DEV_A, Some(pasid), 0, 0);
    assert_eq!(
        invalidate(&mut sva, &mut a, &[cd(15), cd(16)]),
        (Err(HvError::BadArgument), 1)
    );
    // ASID names TLB entries: on a CD invalidation it is refused.
    let cd_asid = InvalidateEntry {
        flags: asid,
        asid: 1,
        ..cd(3)
    };
    assert_eq!(
        invalidate(&mut sva, &mut a, &[cd(3), cd_asid]),
        (Err(HvError::BadArgument), 1)
    );
    let e = InvalidateEntry {
        address: 1 << 48,
        ..entry(InvalidateKind::IotlbRange, DEV_A, None, 0, 0x1000)
    };
    assert_eq!(
        invalidate(&mut sva, &mut a, &[e]),
        (Err(HvError::BadArgument), 0)
    );
}

/// Guest tables aimed outside the partition: leaves at B's RAM (by
/// guest-physical and host address), at MMIO, at vsva's CD table in the
/// table window (read-only); a table pointer at B's RAM. DMA faults; B's
/// RAM and vsva's CD table are unchanged.
#[test]
fn guest_tables_reach_nothing_outside_the_partition() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, b) = rig.two(&mut sva);
    let (p, t, d) = mapped(&mut sva, &mut a);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(p), t.root), Ok(0));
    let &(ipa, pa, len) =
        a.s2.placed
            .first()
            .expect("vsva's CD table is in the window");
    let cd_bytes = |a: &Part| {
        let mut buf = vec![0u8; len as usize];
        a.s2.mem.read(pa, &mut buf);
        buf
    };
    let (cds, b_sum) = (cd_bytes(&a), b.g.ram.checksum());
    let targets = [
        B_BASE,
        b.g.ram.ram.host,
        0x0900_0000,
        ipa,
        A_BASE + (1 << 30),
    ];
    let vas: Vec<u64> = (1..=targets.len() as u64).map(|i| VA + (i << 21)).collect();
    for (&va, &target) in vas.iter().zip(&targets) {
        t.map(&mut a.g, va, target, 0);
    }
    // A level-1 entry pointing at B's RAM as the next table.
    let far = VA + (1 << 30);
    a.g.ram.write_u64(
        t.root + 8 * ((far >> 30) & 511),
        b.g.ram.ram.host | vmsa::VALID | vmsa::TABLE,
    );
    let all = entry(InvalidateKind::IotlbAll, DEV_A, Some(p), 0, 0);
    assert_eq!(invalidate(&mut sva, &mut a, &[all]), (Ok(1), 1));
    for va in vas.iter().copied().chain([far]) {
        assert!(!rig.dma(Some(p), va, 0x66), "{va:#x}");
    }
    assert!(rig.dma(Some(p), VA, 0x67));
    assert_eq!(a.g.ram.byte(d), 0x67);
    assert_eq!(b.g.ram.checksum(), b_sum);
    assert_eq!(cd_bytes(&a), cds);
}

/// B aims every call at A's device, A's PASID and A's CD table: NotFound
/// throughout; A's binding, PASIDs and invalidations are as they were.
#[test]
fn a_partition_cannot_touch_anothers_device_or_pasids() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut a, mut b) = rig.two(&mut sva);
    let (pa, t, d) = mapped(&mut sva, &mut a);
    let d2 = a.g.page();
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(pa), t.root), Ok(0));
    let pb = alloc(&mut sva, &mut b).unwrap();
    let tb = VmsaTable::new(&mut b.g);
    let nf = Err(HvError::NotFound);
    for (device, pasid) in [
        (DEV_A, Some(pa)),
        (DEV_A, None),
        (SID_A, Some(pb)),
        (DEV_B, Some(pa)),
    ] {
        assert_eq!(bind(&mut sva, &mut b, device, pasid, tb.root), nf);
        assert_eq!(unbind(&mut sva, &mut b, device, pasid), nf);
        for kind in [InvalidateKind::IotlbRange, InvalidateKind::DeviceTlb] {
            let e = entry(kind, device, pasid, VA, 0x1000);
            assert_eq!(invalidate(&mut sva, &mut b, &[e]), (nf, 0));
        }
        for kind in [InvalidateKind::IotlbAll, InvalidateKind::PasidCache] {
            assert_eq!(
                invalidate(&mut sva, &mut b, &[entry(kind, device, pasid, 0, 0)]),
                (nf, 0)
            );
        }
    }
    let e = entry(InvalidateKind::PasidCacheAll, DEV_A, None, 0, 0);
    assert_eq!(invalidate(&mut sva, &mut b, &[e]), (nf, 0));
    assert_eq!(free(&mut sva, &mut b, pa), nf);
    let cd = cd_args(DEV_A, b.g.page(), 0, 0);
    assert_eq!(call(&mut sva, &mut b, Call::BindCdTable, &cd), nf);
    assert_eq!(unbind_cd(&mut sva, &mut b, DEV_A), nf);
    let info = info_args(DEV_A);
    assert_eq!(call(&mut sva, &mut b, Call::SvaInfo, &info), nf);
    assert_eq!((sva.pasids_of(A), sva.pasids_of(B)), (vec![pa], vec![pb]));
    assert_eq!((sva.bindings_of(A), sva.bindings_of(B)), (1, 0));
    assert!(rig.dma(Some(pa), VA, 0x71));
    t.map(&mut a.g, VA, d2, 0);
    let e = entry(InvalidateKind::IotlbRange, DEV_A, Some(pa), VA, 0x1000);
    assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1));
    assert!(rig.dma(Some(pa), VA, 0x72));
    assert_eq!((a.g.ram.byte(d), a.g.ram.byte(d2)), (0x71, 0x72));
}
