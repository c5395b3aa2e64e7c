//! Regression tests for what fuzzing the service found (the inputs are in
//! `fuzz/findings`, run by `fuzz_short`; each test here shows one finding
//! in the small, through the rigs).

mod common;

use common::calls::{bind, entry, invalidate};
use common::smmu::Rig as SmmuRig;
use common::vtd::{DEV_A, NESTED, RID_A, Rig, SHADOW};
use common::{GUEST_BASE, Layout, X86Table, device, pasids, x86};
use vsva_abi::sva::InvalidateKind;
use vsva_iommu::smmuv3::model::SmmuConfig;
use vsva_sva::PartitionId;

/// Finding 1: a device's DMA in the last page of the 64-bit address space
/// overflowed the models' page arithmetic (a panic in a debug build); it
/// faults now, like any address no table maps.
#[test]
fn dma_at_the_top_of_the_address_space_faults() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let (_a, _b) = rig.two(&mut sva);
    for (iova, len) in [(u64::MAX - 3, 4), (u64::MAX - 0xfff, 8), (u64::MAX, 1)] {
        let rid = RID_A as u16;
        assert!(rig.model.dma_write(rid, None, iova, &vec![1; len]).is_err());
        assert!(
            rig.model
                .dma_read(rid, None, iova, &mut vec![0; len])
                .is_err()
        );
    }
    let rig = SmmuRig::new(SmmuConfig::full());
    let mut sva = rig.service();
    let at = Layout::new(PartitionId(1), GUEST_BASE, 16);
    let _a = rig.partition(&mut sva, at, device(0x10, 0x10, pasids(0)));
    for (iova, len) in [(u64::MAX - 3, 4), (u64::MAX - 0xfff, 8), (u64::MAX, 1)] {
        assert!(
            rig.model
                .dma_write(0x10, None, iova, &vec![1; len])
                .is_err()
        );
        assert!(
            rig.model
                .dma_read(0x10, None, iova, &mut vec![0; len])
                .is_err()
        );
    }
}

/// Finding 5: a translation of the last page of the 64-bit space (the top
/// of a guest table's upper half) sat in the VT-d model's IOTLB, and the
/// guest's invalidation of that page overflowed the model's overlap test
/// (a panic); it is computed in 128 bits now, and the re-mapped page is
/// what the next DMA reaches.
#[test]
fn the_top_page_of_the_upper_half_is_invalidated() {
    const TOP: u64 = 0xffff_ffff_ffff_f000;
    for caps in [NESTED, SHADOW] {
        let rig = Rig::new(caps);
        let mut sva = rig.service();
        let (mut a, _b) = rig.two(&mut sva);
        let table = X86Table::new(&mut a);
        let (first, second) = (a.page(), a.page());
        table.map(&mut a, TOP, first, x86::TABLE);
        assert_eq!(bind(&mut sva, &mut a, DEV_A, None, table.root), Ok(0));
        assert!(rig.dma(None, TOP, 1));
        assert_eq!(a.ram.byte(first), 1);
        table.map(&mut a, TOP, second, x86::TABLE);
        // The guest names an upper-half page without its sign extension.
        let e = entry(
            InvalidateKind::IotlbRange,
            DEV_A,
            None,
            TOP & 0xffff_ffff_ffff,
            0x1000,
        );
        assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1), "{caps:x?}");
        assert!(rig.dma(None, TOP + 0xff8, 2));
        assert_eq!((a.ram.byte(first), a.ram.byte(second + 0xff8)), (1, 2));
    }
}
