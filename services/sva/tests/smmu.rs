//! The service over the SMMUv3 model: a guest's VMSAv8 table bound on a
//! PASID through a CD table vsva owns (placed at IPAs in the partition's
//! table window), and a guest's own CD table, linear and 2-level, with
//! SubstreamID-tagged DMA from the model's device.

mod common;

use common::calls::{
    alloc, bind, call, call_out, cd_args, entry, invalidate, sva_info, unbind, unbind_cd, vmsa_args,
};
use common::smmu::{Part, Rig, Service, guest_cd, guest_cd_stalling};
use common::{GUEST_BASE, Guest, Layout, VmsaTable, device, pasids, vmsa};
use vsva_abi::sva::{
    BindCdTable, BindStage1, Install, InvalidateKind, Stage1Format, SvaCaps, TABLE_WINDOW_BASE,
};
use vsva_abi::{Call, HvError};
use vsva_iommu::smmuv3::model::SmmuConfig;
use vsva_sva::PartitionId;
use vsva_sva::backend::DeviceInfo;
use vsva_sva::guest::GuestMemory;

const SID: u32 = 0x0010;
const DEVICE: u32 = 0x0010;
const A: PartitionId = PartitionId(1);

/// A: 128 pages of RAM, PASID quota 8, the device with `info`.
fn partition(rig: &Rig, sva: &mut Service<'_>, info: DeviceInfo) -> Part {
    let at = Layout {
        quota: 8,
        budget: 64,
        ..Layout::new(A, GUEST_BASE, 128)
    };
    rig.partition(sva, at, device(SID, DEVICE, info))
}

/// vsva's own CD table under a nested STE: PASID > 0 and requests without
/// a PASID each reach their own guest table; the CD table's pages are in
/// the table window (the STE holds an IPA); a remap takes effect after the
/// guest's IOTLB invalidation; unbind refuses the PASID again.
#[test]
fn pasids_bound_through_vsvas_cd_table_translate_nested() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let (r, info) = sva_info(&mut sva, &mut a, DEVICE);
    assert_eq!(r, Ok(0));
    assert_eq!(Install::from_raw(info.install), Some(Install::Nested));
    let caps = SvaCaps::from_bits_truncate(info.caps);
    assert!(caps.contains(SvaCaps::BIND | SvaCaps::BIND_PASID | SvaCaps::CD_TABLE));
    assert_eq!(
        (info.pasid_bits, info.cd_max, info.output_bits),
        (20, 20, 40)
    );

    let pasid = alloc(&mut sva, &mut a).unwrap();
    let (t1, t0) = (VmsaTable::new(&mut a.g), VmsaTable::new(&mut a.g));
    let (d1, d0, d2) = (a.g.page(), a.g.page(), a.g.page());
    let va = 0x12_3456_7000;
    t1.map(&mut a.g, va, d1, 0);
    t0.map(&mut a.g, va, d0, 0);
    for (p, root) in [(Some(pasid), t1.root), (None, t0.root)] {
        assert_eq!(bind(&mut sva, &mut a, DEVICE, p, root), Ok(0), "{p:?}");
    }
    assert!(
        a.s2.placed
            .iter()
            .all(|&(ipa, _, _)| ipa >= TABLE_WINDOW_BASE),
        "{:x?}",
        a.s2.placed
    );
    assert!(!a.s2.placed.is_empty());
    rig.model
        .dma_write(SID, Some(pasid), va + 8, &[0x41; 4])
        .expect("PASID DMA");
    rig.model.dma_write(SID, None, va + 8, &[0x40; 4]).unwrap();
    assert_eq!((a.g.ram.byte(d1 + 8), a.g.ram.byte(d0 + 8)), (0x41, 0x40));

    // Remap the PASID's page; the IOTLB still has the old one until the
    // guest invalidates.
    t1.map(&mut a.g, va, d2, 0);
    rig.model.dma_write(SID, Some(pasid), va, &[0x42]).unwrap();
    assert_eq!(a.g.ram.byte(d1), 0x42, "cached");
    let e = entry(InvalidateKind::IotlbRange, DEVICE, Some(pasid), va, 0x1000);
    assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, Some(pasid), va, &[0x43]).unwrap();
    assert_eq!((a.g.ram.byte(d1), a.g.ram.byte(d2)), (0x42, 0x43));

    assert_eq!(unbind(&mut sva, &mut a, DEVICE, Some(pasid)), Ok(0));
    assert!(rig.model.dma_write(SID, Some(pasid), va, &[0x44]).is_err());
    rig.model.dma_write(SID, None, va, &[0x45]).unwrap();
    assert_eq!(a.g.ram.byte(d0), 0x45, "the other binding stays");
}

/// The guest's own CD table, linear and 2-level: each substream walks the
/// guest's CD; a CD the guest changes takes effect after its CD
/// invalidation (not before); unbind puts the device back on stage 2.
#[test]
fn a_guest_cd_table_serves_its_substreams_linear_and_two_level() {
    for (format, cd_max) in [(0u32, 4u32), (1, 8)] {
        let rig = Rig::new(SmmuConfig::full());
        let mut sva = rig.service();
        let mut a = partition(&rig, &mut sva, pasids(20));
        let (ta, tb) = (VmsaTable::new(&mut a.g), VmsaTable::new(&mut a.g));
        let (da, db) = (a.g.page(), a.g.page());
        let va = 0x4000_0000_0000 >> 10;
        ta.map(&mut a.g, va, da, 0);
        tb.map(&mut a.g, va, db, 0);
        let ssid = (1u32 << cd_max) - 3;
        // The CD table: linear, or a level-1 table whose descriptor points
        // at a 64-CD leaf (guest-physical, as a nested STE reads it).
        let cd_at = if format == 0 {
            let base = a.g.page();
            (base, base + u64::from(ssid) * 64)
        } else {
            let l1 = a.g.page();
            let leaf = a.g.page();
            let index = u64::from(ssid >> 6);
            a.g.ram.write_u64(l1 + index * 8, leaf | 1);
            (l1, leaf + u64::from(ssid & 63) * 64)
        };
        a.g.ram.write(cd_at.1, &guest_cd(ta.root, 77)).unwrap();
        let bind = cd_args(DEVICE, cd_at.0, format, cd_max);
        let (r, _) = call_out(&mut sva, &mut a, Call::BindCdTable, &bind);
        assert_eq!(r, Ok(0), "format {format}");
        rig.model.dma_write(SID, Some(ssid), va, &[0x61]).unwrap();
        assert_eq!(a.g.ram.byte(da), 0x61);
        // S1DSS bypass: requests without a SubstreamID use stage 2 only.
        rig.model.dma_write(SID, None, db + 4, &[0x62]).unwrap();
        assert_eq!(a.g.ram.byte(db + 4), 0x62);

        // The guest points its CD at the other table.
        a.g.ram.write(cd_at.1, &guest_cd(tb.root, 78)).unwrap();
        rig.model.dma_write(SID, Some(ssid), va, &[0x63]).unwrap();
        assert_eq!(a.g.ram.byte(da), 0x63, "the old CD is cached");
        let (r, n) = invalidate(
            &mut sva,
            &mut a,
            &[entry(InvalidateKind::PasidCache, DEVICE, Some(ssid), 0, 0)],
        );
        assert_eq!((r, n), (Ok(1), 1));
        rig.model.dma_write(SID, Some(ssid), va, &[0x64]).unwrap();
        assert_eq!((a.g.ram.byte(da), a.g.ram.byte(db)), (0x63, 0x64));

        assert_eq!(unbind_cd(&mut sva, &mut a, DEVICE), Ok(0));
        assert!(rig.model.dma_write(SID, Some(ssid), va, &[0x65]).is_err());
        rig.model.dma_write(SID, None, da + 8, &[0x66]).unwrap();
        assert_eq!(a.g.ram.byte(da + 8), 0x66, "stage 2 only again");
    }
}

/// QEMU's SMMU has no substreams (SSIDSIZE 0): binds without a PASID only,
/// a one-CD table of vsva's; a CD table bind is limited to S1CDMax 0.
#[test]
fn qemus_smmu_takes_binds_without_pasid_only() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, DeviceInfo::default());
    let (_, info) = sva_info(&mut sva, &mut a, DEVICE);
    let caps = SvaCaps::from_bits_truncate(info.caps);
    assert!(caps.contains(SvaCaps::BIND | SvaCaps::CD_TABLE));
    assert!(!caps.contains(SvaCaps::BIND_PASID));
    assert_eq!((info.pasid_bits, info.cd_max), (0, 0));
    let t = VmsaTable::new(&mut a.g);
    let d = a.g.page();
    t.map(&mut a.g, 0x7000_0000, d, 0);
    assert_eq!(bind(&mut sva, &mut a, DEVICE, None, t.root), Ok(0));
    rig.model.dma_write(SID, None, 0x7000_0000, &[9]).unwrap();
    assert_eq!(a.g.ram.byte(d), 9);
    let bind = BindCdTable {
        default_substream: 0,
        ..cd_args(DEVICE, a.g.scratch + 0x800, 0, 1)
    };
    let (r, _) = call_out(&mut sva, &mut a, Call::BindCdTable, &bind);
    assert_eq!(r, Err(HvError::Unsupported), "S1CDMax beyond SSIDSIZE");
    let bind = BindCdTable { cd_max: 0, ..bind };
    let (r, _) = call_out(&mut sva, &mut a, Call::BindCdTable, &bind);
    assert_eq!(r, Err(HvError::Busy), "a stage-1 bind is there");
}

/// Teardown on the SMMU: every CD table page, ASID and PASID given back.
#[test]
fn removing_a_partition_frees_the_cd_tables_and_pasids() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let before = rig.mem.allocated_pages();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let t = VmsaTable::new(&mut a.g);
    let d = a.g.page();
    t.map(&mut a.g, 0x7000_0000, d, 0);
    let baseline = rig.mem.allocated_pages();
    for _ in 0..3 {
        let pasid = alloc(&mut sva, &mut a).unwrap();
        assert_eq!(bind(&mut sva, &mut a, DEVICE, Some(pasid), t.root), Ok(0));
    }
    let bound = rig.mem.allocated_pages();
    let cd_pages: u64 = a.s2.placed.iter().map(|&(_, _, len)| len / 4096).sum();
    assert!(cd_pages > 0 && bound > baseline + cd_pages as usize);
    sva.remove_partition(A).unwrap();
    assert_eq!(sva.pasids_in_use(), 0);
    // Every CD-table page is back; what the stage-2 table grew by for the
    // window stays with it (the kernel frees it with the partition).
    assert_eq!(rig.mem.allocated_pages(), bound - cd_pages as usize);
    assert!(rig.mem.allocated_pages() > before);
    assert!(rig.model.dma_write(SID, None, 0x7000_0000, &[1]).is_err());
}

/// A guest CD asking for stalls (CD.S) on an SMMU where stalls are optional
/// (STALL_MODEL 0b00), bound without the STALL flag: vsva sets
/// STE.S1STALLD, so a fault is recorded and terminated at once (no
/// transaction waits for an answer no one gives) and reaches the service
/// with its address and requester.
#[test]
fn a_guest_cd_asking_for_stalls_gets_faults_not_stalls() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let table = VmsaTable::new(&mut a.g);
    let cds = a.g.page();
    let cd = guest_cd_stalling(table.root, 5, true);
    a.g.ram.write(cds, &cd).unwrap();
    let bind = BindCdTable {
        default_substream: 0,
        ..cd_args(DEVICE, cds, 0, 0)
    };
    assert_eq!(call(&mut sva, &mut a, Call::BindCdTable, &bind), Ok(0));
    let va = 0x2000_0000;
    let event = rig.model.dma_write(SID, None, va, &[1]).unwrap_err();
    assert_eq!(event.stag, None, "stalled: {event:?}");
    assert!(rig.model.pending_stalls().is_empty());
    let faults = sva.take_faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(
        (faults[0].partition, faults[0].device),
        (Some(A), Some(DEVICE))
    );
    assert_eq!((faults[0].fault.address, faults[0].fault.write), (va, true));
    // A flag bit vsva does not define (bit 0 is STALL) is refused.
    let flagged = BindCdTable { flags: 2, ..bind };
    assert_eq!(
        call(&mut sva, &mut a, Call::BindCdTable, &flagged),
        Err(HvError::BadArgument)
    );
}

/// 16 KiB of the guest's RAM, 16 KiB aligned (a 16K-granule table or page).
fn chunk_16k(guest: &mut Guest) -> u64 {
    loop {
        let p = guest.page();
        if p.is_multiple_of(0x4000) {
            for _ in 0..3 {
                guest.page();
            }
            return p;
        }
    }
}

/// A 16 KiB-granule guest table on vsva's CD (two levels, 36 input bits):
/// the guest's invalidation of one 4 KiB piece of a remapped 16 KiB page
/// reaches the TLB entry. Range commands name the bound table's granule
/// and cover whole granules; the model keeps entries of another granule,
/// as §4.4.1.1 allows, so a 4 KiB TG would leave the old page in use.
#[test]
fn range_invalidations_name_the_bound_tables_granule() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let (root, l3) = (chunk_16k(&mut a.g), chunk_16k(&mut a.g));
    let (old, new) = (chunk_16k(&mut a.g), chunk_16k(&mut a.g));
    let va = 0x8_0200_4000u64;
    let leaf = |pa: u64| pa | vmsa::VALID | vmsa::PAGE | vmsa::NORMAL;
    let l2_at = root + ((va >> 25) & 0x7ff) * 8;
    let l3_at = l3 + ((va >> 14) & 0x7ff) * 8;
    a.g.ram.write_u64(l2_at, l3 | vmsa::VALID | vmsa::TABLE);
    a.g.ram.write_u64(l3_at, leaf(old));
    let bind = BindStage1 {
        format: Stage1Format::Vmsa16K as u32,
        input_bits: 36,
        ..vmsa_args(DEVICE, None, root)
    };
    assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &bind), Ok(0));
    rig.model.dma_write(SID, None, va + 0x10, &[0x71]).unwrap();
    assert_eq!(a.g.ram.byte(old + 0x10), 0x71);

    a.g.ram.write_u64(l3_at, leaf(new));
    // The last 4 KiB of the 16 KiB page only.
    let e = entry(
        InvalidateKind::IotlbRange,
        DEVICE,
        None,
        va + 0x3000,
        0x1000,
    );
    assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, None, va + 0x10, &[0x72]).unwrap();
    assert_eq!(
        (a.g.ram.byte(old + 0x10), a.g.ram.byte(new + 0x10)),
        (0x71, 0x72),
        "the 16 KiB entry survived the invalidation"
    );
}

/// A guest table one of whose table descriptors points at an IPA its stage
/// 2 maps as Device memory (an MMIO window, here aliasing the real next
/// table): under vsva's nested STE (S2PTW) the SMMU does not read it as a
/// descriptor; the walk takes a stage-2 fault, routed to the partition.
/// With the same descriptor pointing at the RAM alias the DMA goes through.
#[test]
fn guest_table_walks_never_read_device_memory() {
    use vsva_iommu::smmuv3::pagetable::{Attributes, MemoryType, Permissions};
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let table = VmsaTable::new(&mut a.g);
    let data = a.g.page();
    let va = 0x10_0000_1000;
    table.map(&mut a.g, va, data, 0);
    let l1_at = table.root + ((va >> 30) & 511) * 8;
    let l2 = a.g.ram.read_u64(l1_at) & 0x0000_ffff_ffff_f000;
    let mmio = 0xc0_0000_0000u64;
    let host_l2 = a.g.ram.ram.host + (l2 - a.g.ram.ram.guest);
    let device = Attributes {
        permissions: Permissions::READ | Permissions::WRITE,
        memory: MemoryType::Device,
        privileged_only: false,
    };
    a.s2.table
        .map(&*rig.mem, mmio, host_l2, 0x1000, device)
        .unwrap()
        .finish(&*rig.mem);
    a.g.ram.write_u64(l1_at, mmio | vmsa::VALID | vmsa::TABLE);
    let bind = vmsa_args(DEVICE, None, table.root);
    assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &bind), Ok(0));
    let event = rig.model.dma_write(SID, None, va, &[0x5d]).unwrap_err();
    assert!(event.s2, "{event:?}");
    assert_eq!(a.g.ram.byte(data), 0);
    let faults = sva.take_faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].partition, Some(A));

    a.g.ram.write_u64(l1_at, l2 | vmsa::VALID | vmsa::TABLE);
    let e = entry(InvalidateKind::IotlbAll, DEVICE, None, 0, 0);
    assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, None, va, &[0x5e]).unwrap();
    assert_eq!(a.g.ram.byte(data), 0x5e);
}

/// The SMMU refuses the first command of an unbind (the STE's CFGI_STE):
/// the unbind reports it, yet the CD is still cleared and its TLB entries
/// invalidated, so the PASID's DMA is refused; the ASID stays reserved
/// (its entries may not have gone), and a later bind gets another.
#[test]
fn a_failed_unbind_still_blocks_the_pasid_and_keeps_its_asid() {
    use vsva_iommu::smmuv3::model::InjectedError;
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let mut a = partition(&rig, &mut sva, pasids(20));
    let pasid = alloc(&mut sva, &mut a).unwrap();
    let table = VmsaTable::new(&mut a.g);
    let data = a.g.page();
    let va = 0x3000_0000;
    table.map(&mut a.g, va, data, 0);
    let bind = vmsa_args(DEVICE, Some(pasid), table.root);
    assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &bind), Ok(0));
    rig.model.dma_write(SID, Some(pasid), va, &[1]).unwrap();
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 1);

    rig.model.inject(InjectedError::CommandIllegal);
    assert_eq!(
        unbind(&mut sva, &mut a, DEVICE, Some(pasid)),
        Err(HvError::IommuError)
    );
    assert!(
        rig.model.dma_write(SID, Some(pasid), va, &[2]).is_err(),
        "the PASID still translates after a failed unbind"
    );
    assert_eq!(a.g.ram.byte(data), 1);
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 1, "ASID freed");
    assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &bind), Ok(0));
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 2);
    rig.model.dma_write(SID, Some(pasid), va, &[3]).unwrap();
    assert_eq!(a.g.ram.byte(data), 3);
}
