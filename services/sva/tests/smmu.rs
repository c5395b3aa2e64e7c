//! The service over the SMMUv3 model: a guest's VMSAv8 table bound on a
//! PASID through a CD table vsva owns (placed at IPAs in the partition's
//! table window), and a guest's own CD table, linear and 2-level, with
//! SubstreamID-tagged DMA from the model's device.

mod common;

use std::rc::Rc;

use common::{ArmStage2, Guest, Ram, VmsaTable, vmsa};
use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, CdTableConfig, EntryFlags, Install, Invalidate,
    InvalidateEntry, InvalidateKind, Pasid, Stage1Format, SvaCaps, SvaInfo, SvaStruct,
    TABLE_WINDOW_BASE, UnbindCdTable, UnbindStage1,
};
use vsva_abi::{Call, HvError};
use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::smmuv3::model::{SmmuConfig, SmmuModel};
use vsva_iommu::smmuv3::pagetable::Granule;
use vsva_iommu::smmuv3::structs::{ContextDescriptor, TableHalf};
use vsva_iommu::smmuv3::unit::{Smmu, StreamTableFormat};
use vsva_sva::backend::smmu::SmmuBackend;
use vsva_sva::backend::{DeviceInfo, Domain};
use vsva_sva::guest::GuestMemory;
use vsva_sva::{HostDevice, PartitionId, Sva};

const SID: u32 = 0x0010;
const DEVICE: u32 = 0x0010;
const A: PartitionId = PartitionId(1);
const VMID: u16 = 3;

type Backend<'a> = SmmuBackend<&'a SmmuModel, &'a SimMemory, &'a SimClock>;

struct Rig {
    mem: Rc<SimMemory>,
    model: SmmuModel,
    clock: SimClock,
}

impl Rig {
    fn new(config: SmmuConfig) -> Self {
        let mem = common::memory();
        let model = SmmuModel::new(Rc::clone(&mem), config);
        Self {
            mem,
            model,
            clock: common::clock(),
        }
    }

    fn service(&self) -> Sva<Backend<'_>> {
        let smmu = Smmu::new(
            &self.model,
            &*self.mem,
            &self.clock,
            StreamTableFormat::Linear { sid_bits: 16 },
        )
        .unwrap();
        Sva::new(vec![Some(SmmuBackend::new(smmu))], 20)
    }

    fn partition(&self, sva: &mut Sva<Backend<'_>>, info: DeviceInfo) -> (Guest, ArmStage2) {
        let ram = Ram::new(&self.mem, 128, common::GUEST_BASE);
        let s2 = ArmStage2::new(&self.mem, &ram.ram);
        let domain = Domain {
            id: VMID,
            ram: ram.ram,
            stage2: s2.desc(),
        };
        sva.add_partition(A, domain, 8, 64).unwrap();
        sva.assign(
            A,
            HostDevice {
                unit: 0,
                rid: SID,
                virtual_id: DEVICE,
                info,
            },
        )
        .unwrap();
        (Guest::new(A, ram), s2)
    }
}

fn pasid_device() -> DeviceInfo {
    DeviceInfo {
        pasid_bits: 20,
        ..Default::default()
    }
}

fn bind_args(pasid: Option<u32>, root: u64) -> BindStage1 {
    BindStage1 {
        size: BindStage1::SIZE as u32,
        device: DEVICE,
        flags: if pasid.is_some() {
            BindFlags::PASID.bits()
        } else {
            0
        },
        pasid: pasid.unwrap_or(0),
        format: Stage1Format::Vmsa4K as u32,
        input_bits: 39,
        root,
        mair: vmsa::MAIR,
        walk: vmsa::WALK,
        ..Default::default()
    }
}

fn entry(kind: InvalidateKind, pasid: Option<u32>) -> InvalidateEntry {
    InvalidateEntry {
        kind: kind as u8,
        flags: if pasid.is_some() {
            EntryFlags::PASID.bits()
        } else {
            0
        },
        device: DEVICE,
        pasid: pasid.unwrap_or(0),
        ..Default::default()
    }
}

fn invalidate(
    sva: &mut Sva<Backend<'_>>,
    guest: &mut Guest,
    s2: &mut ArmStage2,
    entries: &[InvalidateEntry],
) -> (Result<u64, HvError>, u32) {
    let array = guest.scratch + 0x400;
    for (i, e) in entries.iter().enumerate() {
        let mut b = [0u8; 32];
        e.encode(&mut b);
        guest.ram.write(array + 32 * i as u64, &b).unwrap();
    }
    let (r, out) = guest.call(
        sva,
        s2,
        Call::Invalidate,
        &Invalidate {
            size: 24,
            entry_size: 32,
            count: entries.len() as u32,
            flags: 0,
            entries: array,
        },
    );
    (r, out.count)
}

/// vsva's own CD table under a nested STE: PASID > 0 and requests without
/// a PASID each reach their own guest table; the CD table's pages are in
/// the table window (the STE holds an IPA); a remap takes effect after the
/// guest's IOTLB invalidation; unbind refuses the PASID again.
#[test]
fn pasids_bound_through_vsvas_cd_table_translate_nested() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let (r, info) = guest.call(
        &mut sva,
        &mut s2,
        Call::SvaInfo,
        &SvaInfo {
            size: 48,
            device: DEVICE,
            ..Default::default()
        },
    );
    assert_eq!(r, Ok(0));
    assert_eq!(Install::from_raw(info.install), Some(Install::Nested));
    let caps = SvaCaps::from_bits_truncate(info.caps);
    assert!(caps.contains(SvaCaps::BIND | SvaCaps::BIND_PASID | SvaCaps::CD_TABLE));
    assert_eq!(
        (info.pasid_bits, info.cd_max, info.output_bits),
        (20, 20, 40)
    );

    let (r, p) = guest.call(
        &mut sva,
        &mut s2,
        Call::PasidAlloc,
        &Pasid {
            size: 16,
            ..Default::default()
        },
    );
    assert_eq!(r, Ok(0));
    let pasid = p.pasid;
    let (t1, t0) = (VmsaTable::new(&mut guest), VmsaTable::new(&mut guest));
    let (d1, d0, d2) = (guest.page(), guest.page(), guest.page());
    let va = 0x12_3456_7000;
    t1.map(&mut guest, va, d1, 0);
    t0.map(&mut guest, va, d0, 0);
    for (p, root) in [(Some(pasid), t1.root), (None, t0.root)] {
        let (r, _) = guest.call(&mut sva, &mut s2, Call::BindStage1, &bind_args(p, root));
        assert_eq!(r, Ok(0), "{p:?}");
    }
    assert!(
        s2.placed
            .iter()
            .all(|&(ipa, _, _)| ipa >= TABLE_WINDOW_BASE),
        "{:x?}",
        s2.placed
    );
    assert!(!s2.placed.is_empty());
    rig.model
        .dma_write(SID, Some(pasid), va + 8, &[0x41; 4])
        .expect("PASID DMA");
    rig.model.dma_write(SID, None, va + 8, &[0x40; 4]).unwrap();
    assert_eq!(
        (guest.ram.byte(d1 + 8), guest.ram.byte(d0 + 8)),
        (0x41, 0x40)
    );

    // Remap the PASID's page; the IOTLB still has the old one until the
    // guest invalidates.
    t1.map(&mut guest, va, d2, 0);
    rig.model.dma_write(SID, Some(pasid), va, &[0x42]).unwrap();
    assert_eq!(guest.ram.byte(d1), 0x42, "cached");
    let mut e = entry(InvalidateKind::IotlbRange, Some(pasid));
    e.address = va;
    e.size = 0x1000;
    assert_eq!(invalidate(&mut sva, &mut guest, &mut s2, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, Some(pasid), va, &[0x43]).unwrap();
    assert_eq!((guest.ram.byte(d1), guest.ram.byte(d2)), (0x42, 0x43));

    let (r, _) = guest.call(
        &mut sva,
        &mut s2,
        Call::UnbindStage1,
        &UnbindStage1 {
            size: 16,
            device: DEVICE,
            flags: BindFlags::PASID.bits(),
            pasid,
        },
    );
    assert_eq!(r, Ok(0));
    assert!(rig.model.dma_write(SID, Some(pasid), va, &[0x44]).is_err());
    rig.model.dma_write(SID, None, va, &[0x45]).unwrap();
    assert_eq!(guest.ram.byte(d0), 0x45, "the other binding stays");
}

/// A CD the guest writes in its own RAM: TTB0 and the CD table itself are
/// IPAs, the ASID the guest's.
fn guest_cd(table: u64, asid: u16) -> [u8; 64] {
    guest_cd_stalling(table, asid, false)
}

/// The same, with CD.S as given.
fn guest_cd_stalling(table: u64, asid: u16, stall: bool) -> [u8; 64] {
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

/// The guest's own CD table, linear and 2-level: each substream walks the
/// guest's CD; a CD the guest changes takes effect after its CD
/// invalidation (not before); unbind puts the device back on stage 2.
#[test]
fn a_guest_cd_table_serves_its_substreams_linear_and_two_level() {
    for (format, cd_max) in [(0u32, 4u32), (1, 8)] {
        let rig = Rig::new(SmmuConfig::full());
        let mut sva = rig.service();
        let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
        let (ta, tb) = (VmsaTable::new(&mut guest), VmsaTable::new(&mut guest));
        let (da, db) = (guest.page(), guest.page());
        let va = 0x4000_0000_0000 >> 10;
        ta.map(&mut guest, va, da, 0);
        tb.map(&mut guest, va, db, 0);
        let ssid = (1u32 << cd_max) - 3;
        // The CD table: linear, or a level-1 table whose descriptor points
        // at a 64-CD leaf (guest-physical, as a nested STE reads it).
        let cd_at = if format == 0 {
            let base = guest.page();
            (base, base + u64::from(ssid) * 64)
        } else {
            let l1 = guest.page();
            let leaf = guest.page();
            let index = u64::from(ssid >> 6);
            guest.ram.write_u64(l1 + index * 8, leaf | 1);
            (l1, leaf + u64::from(ssid & 63) * 64)
        };
        guest.ram.write(cd_at.1, &guest_cd(ta.root, 77)).unwrap();
        let bind = BindCdTable {
            size: 40,
            device: DEVICE,
            config: CdTableConfig::Translate as u32,
            flags: 0,
            format,
            cd_max,
            default_substream: 1,
            walk: vmsa::WALK,
            table: cd_at.0,
        };
        let (r, _) = guest.call(&mut sva, &mut s2, Call::BindCdTable, &bind);
        assert_eq!(r, Ok(0), "format {format}");
        rig.model.dma_write(SID, Some(ssid), va, &[0x61]).unwrap();
        assert_eq!(guest.ram.byte(da), 0x61);
        // S1DSS bypass: requests without a SubstreamID use stage 2 only.
        rig.model.dma_write(SID, None, db + 4, &[0x62]).unwrap();
        assert_eq!(guest.ram.byte(db + 4), 0x62);

        // The guest points its CD at the other table.
        guest.ram.write(cd_at.1, &guest_cd(tb.root, 78)).unwrap();
        rig.model.dma_write(SID, Some(ssid), va, &[0x63]).unwrap();
        assert_eq!(guest.ram.byte(da), 0x63, "the old CD is cached");
        let (r, n) = invalidate(
            &mut sva,
            &mut guest,
            &mut s2,
            &[entry(InvalidateKind::PasidCache, Some(ssid))],
        );
        assert_eq!((r, n), (Ok(1), 1));
        rig.model.dma_write(SID, Some(ssid), va, &[0x64]).unwrap();
        assert_eq!((guest.ram.byte(da), guest.ram.byte(db)), (0x63, 0x64));

        let (r, _) = guest.call(
            &mut sva,
            &mut s2,
            Call::UnbindCdTable,
            &UnbindCdTable {
                size: 8,
                device: DEVICE,
            },
        );
        assert_eq!(r, Ok(0));
        assert!(rig.model.dma_write(SID, Some(ssid), va, &[0x65]).is_err());
        rig.model.dma_write(SID, None, da + 8, &[0x66]).unwrap();
        assert_eq!(guest.ram.byte(da + 8), 0x66, "stage 2 only again");
    }
}

/// QEMU's SMMU has no substreams (SSIDSIZE 0): binds without a PASID only,
/// a one-CD table of vsva's; a CD table bind is limited to S1CDMax 0.
#[test]
fn qemus_smmu_takes_binds_without_pasid_only() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut sva = rig.service();
    let (mut guest, mut s2) = rig.partition(&mut sva, DeviceInfo::default());
    let (_, info) = guest.call(
        &mut sva,
        &mut s2,
        Call::SvaInfo,
        &SvaInfo {
            size: 48,
            device: DEVICE,
            ..Default::default()
        },
    );
    let caps = SvaCaps::from_bits_truncate(info.caps);
    assert!(caps.contains(SvaCaps::BIND | SvaCaps::CD_TABLE));
    assert!(!caps.contains(SvaCaps::BIND_PASID));
    assert_eq!((info.pasid_bits, info.cd_max), (0, 0));
    let t = VmsaTable::new(&mut guest);
    let d = guest.page();
    t.map(&mut guest, 0x7000_0000, d, 0);
    let (r, _) = guest.call(
        &mut sva,
        &mut s2,
        Call::BindStage1,
        &bind_args(None, t.root),
    );
    assert_eq!(r, Ok(0));
    rig.model.dma_write(SID, None, 0x7000_0000, &[9]).unwrap();
    assert_eq!(guest.ram.byte(d), 9);
    let bind = BindCdTable {
        size: 40,
        device: DEVICE,
        config: CdTableConfig::Translate as u32,
        format: 0,
        cd_max: 1,
        default_substream: 0,
        walk: vmsa::WALK,
        table: guest.scratch + 0x800,
        ..Default::default()
    };
    let (r, _) = guest.call(&mut sva, &mut s2, Call::BindCdTable, &bind);
    assert_eq!(r, Err(HvError::Unsupported), "S1CDMax beyond SSIDSIZE");
    let bind = BindCdTable { cd_max: 0, ..bind };
    let (r, _) = guest.call(&mut sva, &mut s2, Call::BindCdTable, &bind);
    assert_eq!(r, Err(HvError::Busy), "a stage-1 bind is there");
}

/// Teardown on the SMMU: every CD table page, ASID and PASID given back.
#[test]
fn removing_a_partition_frees_the_cd_tables_and_pasids() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let before = rig.mem.allocated_pages();
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let t = VmsaTable::new(&mut guest);
    let d = guest.page();
    t.map(&mut guest, 0x7000_0000, d, 0);
    let baseline = rig.mem.allocated_pages();
    for _ in 0..3 {
        let (_, p) = guest.call(
            &mut sva,
            &mut s2,
            Call::PasidAlloc,
            &Pasid {
                size: 16,
                ..Default::default()
            },
        );
        let (r, _) = guest.call(
            &mut sva,
            &mut s2,
            Call::BindStage1,
            &bind_args(Some(p.pasid), t.root),
        );
        assert_eq!(r, Ok(0));
    }
    let bound = rig.mem.allocated_pages();
    let cd_pages: u64 = s2.placed.iter().map(|&(_, _, len)| len / 4096).sum();
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
/// (STALL_MODEL 0b00): vsva sets STE.S1STALLD, so a fault is recorded and
/// terminated at once (no transaction waits for an answer no one gives) and
/// reaches the service with its address and requester.
#[test]
fn a_guest_cd_asking_for_stalls_gets_faults_not_stalls() {
    let rig = Rig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let table = VmsaTable::new(&mut guest);
    let cds = guest.page();
    guest
        .ram
        .write(cds, &guest_cd_stalling(table.root, 5, true))
        .unwrap();
    let bind = BindCdTable {
        size: 40,
        device: DEVICE,
        config: CdTableConfig::Translate as u32,
        format: 0,
        cd_max: 0,
        walk: vmsa::WALK,
        table: cds,
        ..Default::default()
    };
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindCdTable, &bind).0,
        Ok(0)
    );
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
    // A flag bit vsva does not define is refused.
    let flagged = BindCdTable { flags: 1, ..bind };
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindCdTable, &flagged).0,
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
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let (root, l3) = (chunk_16k(&mut guest), chunk_16k(&mut guest));
    let (a, b) = (chunk_16k(&mut guest), chunk_16k(&mut guest));
    let va = 0x8_0200_4000u64;
    let leaf = |pa: u64| pa | vmsa::VALID | vmsa::PAGE | vmsa::NORMAL;
    let l2_at = root + ((va >> 25) & 0x7ff) * 8;
    let l3_at = l3 + ((va >> 14) & 0x7ff) * 8;
    guest.ram.write_u64(l2_at, l3 | vmsa::VALID | vmsa::TABLE);
    guest.ram.write_u64(l3_at, leaf(a));
    let bind = BindStage1 {
        format: Stage1Format::Vmsa16K as u32,
        input_bits: 36,
        ..bind_args(None, root)
    };
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindStage1, &bind).0,
        Ok(0)
    );
    rig.model.dma_write(SID, None, va + 0x10, &[0x71]).unwrap();
    assert_eq!(guest.ram.byte(a + 0x10), 0x71);

    guest.ram.write_u64(l3_at, leaf(b));
    let mut e = entry(InvalidateKind::IotlbRange, None);
    // The last 4 KiB of the 16 KiB page only.
    e.address = va + 0x3000;
    e.size = 0x1000;
    assert_eq!(invalidate(&mut sva, &mut guest, &mut s2, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, None, va + 0x10, &[0x72]).unwrap();
    assert_eq!(
        (guest.ram.byte(a + 0x10), guest.ram.byte(b + 0x10)),
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
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let table = VmsaTable::new(&mut guest);
    let data = guest.page();
    let va = 0x10_0000_1000;
    table.map(&mut guest, va, data, 0);
    let l1_at = table.root + ((va >> 30) & 511) * 8;
    let l2 = guest.ram.read_u64(l1_at) & 0x0000_ffff_ffff_f000;
    let mmio = 0xc0_0000_0000u64;
    let host_l2 = guest.ram.ram.host + (l2 - guest.ram.ram.guest);
    let device = Attributes {
        permissions: Permissions::READ | Permissions::WRITE,
        memory: MemoryType::Device,
        privileged_only: false,
    };
    s2.table
        .map(&*rig.mem, mmio, host_l2, 0x1000, device)
        .unwrap()
        .finish(&*rig.mem);
    guest.ram.write_u64(l1_at, mmio | vmsa::VALID | vmsa::TABLE);
    let bind = bind_args(None, table.root);
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindStage1, &bind).0,
        Ok(0)
    );
    let event = rig.model.dma_write(SID, None, va, &[0x5d]).unwrap_err();
    assert!(event.s2, "{event:?}");
    assert_eq!(guest.ram.byte(data), 0);
    let faults = sva.take_faults();
    assert_eq!(faults.len(), 1, "{faults:?}");
    assert_eq!(faults[0].partition, Some(A));

    guest.ram.write_u64(l1_at, l2 | vmsa::VALID | vmsa::TABLE);
    let e = entry(InvalidateKind::IotlbAll, None);
    assert_eq!(invalidate(&mut sva, &mut guest, &mut s2, &[e]), (Ok(1), 1));
    rig.model.dma_write(SID, None, va, &[0x5e]).unwrap();
    assert_eq!(guest.ram.byte(data), 0x5e);
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
    let (mut guest, mut s2) = rig.partition(&mut sva, pasid_device());
    let (_, p) = guest.call(
        &mut sva,
        &mut s2,
        Call::PasidAlloc,
        &Pasid {
            size: 16,
            ..Default::default()
        },
    );
    let table = VmsaTable::new(&mut guest);
    let data = guest.page();
    let va = 0x3000_0000;
    table.map(&mut guest, va, data, 0);
    let bind = bind_args(Some(p.pasid), table.root);
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindStage1, &bind).0,
        Ok(0)
    );
    rig.model.dma_write(SID, Some(p.pasid), va, &[1]).unwrap();
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 1);

    rig.model.inject(InjectedError::CommandIllegal);
    let unbind = UnbindStage1 {
        size: 16,
        device: DEVICE,
        flags: BindFlags::PASID.bits(),
        pasid: p.pasid,
    };
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::UnbindStage1, &unbind).0,
        Err(HvError::IommuError)
    );
    assert!(
        rig.model.dma_write(SID, Some(p.pasid), va, &[2]).is_err(),
        "the PASID still translates after a failed unbind"
    );
    assert_eq!(guest.ram.byte(data), 1);
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 1, "ASID freed");
    assert_eq!(
        guest.call(&mut sva, &mut s2, Call::BindStage1, &bind).0,
        Ok(0)
    );
    assert_eq!(sva.unit_mut(0).unwrap().asids_in_use(), 2);
    rig.model.dma_write(SID, Some(p.pasid), va, &[3]).unwrap();
    assert_eq!(guest.ram.byte(data), 3);
}
