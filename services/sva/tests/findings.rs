//! Regression tests for what fuzzing the service found (the inputs are in
//! `fuzz/findings`, run by `fuzz_short`; each test here shows one finding
//! in the small, through the rigs).

mod common;

use common::smmu::Rig as SmmuRig;
use common::vtd::{NESTED, RID_A, Rig};
use common::{GUEST_BASE, Layout, device, pasids};
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
