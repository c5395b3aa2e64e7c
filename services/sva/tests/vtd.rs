//! The service over the VT-d model: a guest's x86 table bound on a PASID,
//! nested where the unit has ECAP.NEST and shadowed where it has not (QEMU's
//! VT-d), with PASID-tagged DMA from the model's device.

mod common;

use common::calls::{alloc, bind, entry, invalidate, sva_info, unbind};
use common::vtd::{A, NESTED, Rig, SHADOW, Service};
use common::{GUEST_BASE, Guest, Layout, X86Table, device, pasids, x86};
use vsva_abi::HvError;
use vsva_abi::sva::{Install, InvalidateKind, SvaCaps};
use vsva_iommu::vtd::model::{self, VtdModel};
use vsva_iommu::vtd::unit::Mode;
use vsva_sva::PartitionId;
use vsva_sva::backend::{DeviceInfo, Domain, Stage2Desc};

const RID: u32 = 0x0008;
const DEVICE: u32 = 0x0008;

/// A: 64 pages of RAM, the device where it has `info`.
fn partition(rig: &Rig, sva: &mut Service<'_>, info: Option<DeviceInfo>) -> Guest {
    let device = info.map(|info| device(RID, DEVICE, info));
    rig.partition(sva, Layout::new(A, GUEST_BASE, 64), device)
}

/// A PASID > 0 bound nested (ECAP.NEST): the device's PASID-tagged DMA to
/// a guest-virtual address lands in the host page behind the guest-physical
/// page the guest's table names; without the PASID it does not reach it;
/// after unbind the PASID's DMA is refused and the caches were invalidated.
#[test]
fn a_pasid_bound_nested_translates_through_the_guests_table() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut guest = partition(&rig, &mut sva, Some(pasids(20)));
    let (r, info) = sva_info(&mut sva, &mut guest, DEVICE);
    assert_eq!(r, Ok(0));
    assert_eq!(Install::from_raw(info.install), Some(Install::Nested));
    let caps = SvaCaps::from_bits_truncate(info.caps);
    assert!(caps.contains(SvaCaps::BIND | SvaCaps::BIND_PASID | SvaCaps::X86_SRE));
    assert_eq!(
        info.pasid_bits, 15,
        "the driver's PASID directory covers 15 bits"
    );

    let pasid = alloc(&mut sva, &mut guest).unwrap();
    let table = X86Table::new(&mut guest);
    let data = guest.page();
    let gva = 0x7f00_0000_0000;
    table.map(&mut guest, gva, data, x86::TABLE);
    assert_eq!(
        bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
        Ok(0)
    );
    rig.model
        .dma_write(RID as u16, Some(pasid), gva + 0x10, &[0x5a; 8])
        .expect("nested DMA");
    assert_eq!(guest.ram.byte(data + 0x10), 0x5a);
    assert!(
        rig.model.dma_write(RID as u16, None, gva, &[1]).is_err(),
        "without the PASID the guest-virtual address is not RAM"
    );

    assert_eq!(unbind(&mut sva, &mut guest, DEVICE, Some(pasid)), Ok(0));
    assert!(
        rig.model
            .dma_write(RID as u16, Some(pasid), gva, &[2])
            .is_err()
    );
    assert_eq!(guest.ram.byte(data), 0);
    assert_eq!(sva.bindings_of(A), 0);
}

/// QEMU's first-stage-only VT-d (no nesting) with PASIDs, as the model
/// gives it: a shadow. DMA on PASID > 0 lands behind the guest's mapping;
/// a remap takes effect only after the guest's invalidation of that range
/// (the shadow follows what it is told); a leaf outside the partition's
/// RAM faults and another partition's memory is unchanged.
#[test]
fn a_pasid_bound_through_a_shadow_follows_the_guests_invalidations() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let mut guest = partition(&rig, &mut sva, Some(pasids(20)));
    let other = rig.partition(&mut sva, Layout::new(PartitionId(2), GUEST_BASE, 16), None);
    let other_sum = other.ram.checksum();
    let (_, info) = sva_info(&mut sva, &mut guest, DEVICE);
    assert_eq!(Install::from_raw(info.install), Some(Install::Shadow));

    let pasid = alloc(&mut sva, &mut guest).unwrap();
    let table = X86Table::new(&mut guest);
    let (first, second) = (guest.page(), guest.page());
    let gva = 0x1234_5000;
    table.map(&mut guest, gva, first, x86::TABLE);
    // A leaf at the other partition's RAM (a guest-physical address outside
    // this partition: the same GPA range only by accident of layout).
    let outside = 0x9000_0000;
    table.map(&mut guest, gva + 0x1000, outside, x86::TABLE);
    assert_eq!(
        bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
        Ok(0)
    );
    rig.model
        .dma_write(RID as u16, Some(pasid), gva, &[0x11; 4])
        .unwrap();
    assert_eq!(guest.ram.byte(first), 0x11);
    assert!(
        rig.model
            .dma_write(RID as u16, Some(pasid), gva + 0x1000, &[0x66; 4])
            .is_err()
    );

    // Remap: without an invalidation the device still sees the old page.
    table.map(&mut guest, gva, second, x86::TABLE);
    rig.model
        .dma_write(RID as u16, Some(pasid), gva, &[0x22; 4])
        .unwrap();
    assert_eq!(
        (guest.ram.byte(first), guest.ram.byte(second)),
        (0x22, 0),
        "a shadow changes only when told"
    );
    let range = entry(InvalidateKind::IotlbRange, DEVICE, Some(pasid), gva, 0x1000);
    assert_eq!(invalidate(&mut sva, &mut guest, &[range]), (Ok(1), 1));
    rig.model
        .dma_write(RID as u16, Some(pasid), gva, &[0x33; 4])
        .unwrap();
    assert_eq!(
        (guest.ram.byte(first), guest.ram.byte(second)),
        (0x22, 0x33)
    );
    assert_eq!(other.ram.checksum(), other_sum);
}

/// The shadow path without a PASID on QEMU's default configuration: the
/// bind replaces the plain attachment (the partition's own map) for
/// requests without PASID, and unbind restores it.
#[test]
fn a_bind_without_pasid_replaces_and_restores_the_plain_attachment() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let mut guest = partition(&rig, &mut sva, Some(DeviceInfo::default()));
    let data = guest.page();
    // Plain attachment: guest-physical addresses.
    rig.model.dma_write(RID as u16, None, data, &[1]).unwrap();
    assert_eq!(guest.ram.byte(data), 1);
    let table = X86Table::new(&mut guest);
    let gva = 0x8000_0000;
    table.map(&mut guest, gva, data, x86::TABLE);
    assert_eq!(bind(&mut sva, &mut guest, DEVICE, None, table.root), Ok(0));
    rig.model.dma_write(RID as u16, None, gva, &[2]).unwrap();
    assert_eq!(guest.ram.byte(data), 2);
    assert!(
        rig.model.dma_write(RID as u16, None, data, &[3]).is_err(),
        "GPAs are not mapped by the guest's table"
    );
    assert_eq!(unbind(&mut sva, &mut guest, DEVICE, None), Ok(0));
    assert!(rig.model.dma_write(RID as u16, None, gva, &[4]).is_err());
    rig.model.dma_write(RID as u16, None, data, &[5]).unwrap();
    assert_eq!(guest.ram.byte(data), 5);
}

/// The second-stage shadow (QEMU's scalable mode without first stage, and
/// legacy mode): the same bind works with a second-stage table under a
/// domain ID of its own.
#[test]
fn second_stage_shadows_serve_scalable_and_legacy_units() {
    for (ecap, mode) in [
        (model::QEMU_ECAP_SCALABLE_PASID, Mode::Scalable),
        (model::QEMU_ECAP_LEGACY | (1 << 3), Mode::Legacy),
    ] {
        let rig = Rig::new((model::QEMU_CAP, ecap | (1 << 3)));
        let mut sva = rig.service_in(mode);
        let mut guest = partition(&rig, &mut sva, Some(DeviceInfo::default()));
        let table = X86Table::new(&mut guest);
        let data = guest.page();
        let gva = 0x6000_0000;
        table.map(&mut guest, gva, data, x86::TABLE);
        assert_eq!(
            bind(&mut sva, &mut guest, DEVICE, None, table.root),
            Ok(0),
            "{mode:?}"
        );
        rig.model.dma_write(RID as u16, None, gva, &[7]).unwrap();
        assert_eq!(guest.ram.byte(data), 7, "{mode:?}");
        assert_eq!(unbind(&mut sva, &mut guest, DEVICE, None), Ok(0));
        assert!(rig.model.dma_write(RID as u16, None, gva, &[8]).is_err());
    }
}

/// Teardown frees everything: after binds on two PASIDs and a partition
/// removal, every table page the service and the unit took for it is back
/// and no PASID is held.
#[test]
fn removing_a_partition_frees_every_binding_table_and_pasid() {
    // QEMU's VT-d has 1-bit PASIDs (ECAP.PSS 0): one PASID there.
    for (cap, ecap, binds) in [
        (model::FULL_CAP, model::FULL_ECAP, 2),
        (model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS, 1),
    ] {
        let rig = Rig::new((cap, ecap));
        let mut sva = rig.service();
        let before = rig.mem.allocated_pages();
        let mut guest = partition(&rig, &mut sva, None);
        let baseline = rig.mem.allocated_pages();
        sva.assign(A, device(RID, DEVICE, pasids(20))).unwrap();
        let table = X86Table::new(&mut guest);
        let data = guest.page();
        table.map(&mut guest, 0x4000, data, x86::TABLE);
        for _ in 0..binds {
            let pasid = alloc(&mut sva, &mut guest).unwrap();
            assert_eq!(
                bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
                Ok(0)
            );
        }
        assert!(rig.mem.allocated_pages() > baseline);
        assert_eq!(sva.pasids_in_use(), binds);
        sva.remove_partition(A).unwrap();
        assert_eq!(sva.pasids_in_use(), 0);
        // What stays: the RAM and the nested page table the test made, and
        // the context table the unit keeps for the bus; the guest's own
        // table pages are in its RAM.
        assert_eq!(rig.mem.allocated_pages(), baseline + 1, "{cap:#x}");
        assert!(baseline > before);
        assert!(rig.model.dma_write(RID as u16, None, data, &[1]).is_err());
    }
}

/// Two devices of one partition, one with a guest table bound without
/// PASID, the other on the partition's plain map: each binding has a DID of
/// its own, so the first device's cached translations never serve the
/// second's DMA (both would be RID_PASID's under one DID otherwise, and
/// the IOTLB is tagged by DID and PASID, not by requester: §6.2.1).
#[test]
fn a_binding_never_aliases_another_devices_plain_attachment() {
    const RID_B: u32 = 0x0010;
    for (cap, ecap) in [
        (model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS),
        (model::FULL_CAP, model::FULL_ECAP),
    ] {
        let rig = Rig::new((cap, ecap));
        let mut sva = rig.service();
        let mut guest = partition(&rig, &mut sva, Some(DeviceInfo::default()));
        let second = device(RID_B, RID_B, DeviceInfo::default());
        sva.assign(A, second).unwrap();
        let table = X86Table::new(&mut guest);
        let (data, plain) = (guest.page(), guest.page());
        // The bound table maps `plain`'s address (as a guest-virtual one)
        // to `data`; for the plain device it is the guest-physical `plain`.
        table.map(&mut guest, plain, data, x86::TABLE);
        assert_eq!(bind(&mut sva, &mut guest, DEVICE, None, table.root), Ok(0));
        rig.model
            .dma_write(RID as u16, None, plain, &[0xa1])
            .unwrap();
        assert_eq!(guest.ram.byte(data), 0xa1);
        rig.model
            .dma_write(RID_B as u16, None, plain, &[0xb2])
            .unwrap();
        assert_eq!(
            (guest.ram.byte(data), guest.ram.byte(plain)),
            (0xa1, 0xb2),
            "the plain device's DMA went through the binding's cached translation"
        );
    }
}

/// The IOMMU fails while an entry changes. A nested bind whose invalidation
/// fails is undone (its entry cleared again: the PASID's DMA faults). An
/// unbind of a shadow whose invalidation fails keeps the shadow (never
/// freed: the unit may still walk it) and its domain ID (never reused).
#[test]
fn iommu_failures_leave_no_live_entry_and_free_nothing_in_use() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let mut guest = partition(&rig, &mut sva, Some(pasids(20)));
    let pasid = alloc(&mut sva, &mut guest).unwrap();
    let table = X86Table::new(&mut guest);
    let data = guest.page();
    let gva = 0x5000_0000;
    table.map(&mut guest, gva, data, x86::TABLE);
    rig.model.inject(model::InjectedError::DescriptorError);
    assert_eq!(
        bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
        Err(HvError::IommuError)
    );
    assert_eq!(sva.bindings_of(A), 0);
    assert!(
        rig.model
            .dma_write(RID as u16, Some(pasid), gva, &[1])
            .is_err(),
        "the failed bind's entry is live"
    );
    assert_eq!(guest.ram.byte(data), 0);

    // QEMU's first-stage unit with 20-bit PASIDs (ECAP.PSS 19).
    let rig = Rig::new((model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS | 19 << 35));
    let mut sva = rig.service();
    let mut guest = partition(&rig, &mut sva, Some(pasids(20)));
    let (first, second) = (
        alloc(&mut sva, &mut guest).unwrap(),
        alloc(&mut sva, &mut guest).unwrap(),
    );
    let table = X86Table::new(&mut guest);
    table.map(&mut guest, gva, data, x86::TABLE);
    let free = sva.shadow_pages_left(A).unwrap();
    let mut dids = Vec::new();
    for pasid in [first, second] {
        rig.model.reset_log();
        assert_eq!(
            bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
            Ok(0)
        );
        dids.push(entry_did(&rig.model, pasid));
    }
    assert!(!dids.contains(&1) && dids[0] != dids[1], "{dids:?}");
    let used = free - sva.shadow_pages_left(A).unwrap();
    rig.model.inject(model::InjectedError::DescriptorError);
    assert_eq!(
        unbind(&mut sva, &mut guest, DEVICE, Some(first)),
        Err(HvError::IommuError)
    );
    assert_eq!(sva.unit_mut(0).unwrap().quarantined(), 1);
    assert_eq!(
        sva.shadow_pages_left(A).unwrap(),
        free - used,
        "the quarantined shadow's pages were credited back"
    );
    // The other binding is unaffected and unbinds cleanly.
    rig.model
        .dma_write(RID as u16, Some(second), gva, &[7])
        .unwrap();
    assert_eq!(guest.ram.byte(data), 7);
    assert_eq!(unbind(&mut sva, &mut guest, DEVICE, Some(second)), Ok(0));
    assert_eq!(sva.shadow_pages_left(A).unwrap(), free - used / 2);
    // A new binding never gets the quarantined one's domain ID.
    for pasid in [second, first] {
        rig.model.reset_log();
        assert_eq!(
            bind(&mut sva, &mut guest, DEVICE, Some(pasid), table.root),
            Ok(0)
        );
        assert_ne!(entry_did(&rig.model, pasid), dids[0]);
    }
}

/// The domain ID of the last PASID entry written for `pasid`: the DID of
/// the PASID-cache invalidation that follows the write (§6.5.3.3).
fn entry_did(model: &VtdModel, pasid: u32) -> u16 {
    use vsva_iommu::vtd::model::{Descriptor, PcGranularity};
    model
        .descriptor_log()
        .iter()
        .rev()
        .find_map(|d| match *d {
            Descriptor::PasidCache {
                did,
                granularity: PcGranularity::Pasid,
                pasid: p,
            } if p == pasid => Some(did),
            _ => None,
        })
        .expect("no PASID-cache invalidation for the entry")
}

/// A teardown the IOMMU fails is reported as a quarantine, and the
/// partition's domain ID is never given to a new partition (translations
/// may still be cached under it); other domain IDs still are.
#[test]
fn a_quarantined_domain_id_is_never_reused() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let guest = partition(&rig, &mut sva, Some(pasids(20)));
    rig.model.inject(model::InjectedError::DescriptorError);
    assert!(sva.remove_partition(A).is_err());
    let domain = Domain {
        id: 1,
        ram: guest.ram.ram,
        stage2: Stage2Desc::X86 { root: 0 },
    };
    assert_eq!(
        sva.add_partition(PartitionId(7), domain, 1, 1),
        Err(vsva_sva::SvaError::QuarantinedDomain(1))
    );
    let other = Domain { id: 2, ..domain };
    assert_eq!(sva.add_partition(PartitionId(7), other, 1, 1), Ok(()));
}
