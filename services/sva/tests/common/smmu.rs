//! The SMMUv3 rig of `vsva_sva::sim`, its partitions calling with VMSAv8
//! tables.

use std::ops::Deref;

use vsva_abi::sva::BindStage1;
use vsva_iommu::smmuv3::model::SmmuConfig;
use vsva_sva::backend::Stage2Tables;
use vsva_sva::sim::smmu;

use super::Guest;
use super::calls::{Caller, vmsa_args};

pub use vsva_sva::sim::smmu::{Part, Service};
pub use vsva_sva::sim::tables::{guest_cd, guest_cd_stalling};

/// The shared rig (a local type, so test files can add to it).
#[derive(Debug)]
pub struct Rig(smmu::Rig);

impl Deref for Rig {
    type Target = smmu::Rig;

    fn deref(&self) -> &smmu::Rig {
        &self.0
    }
}

impl Rig {
    pub fn new(config: SmmuConfig) -> Self {
        Self(smmu::Rig::new(config))
    }
}

/// VMSAv8 4 KiB tables, the partition's stage 2 taking vsva's CD tables.
impl Caller for Part {
    fn with<R>(&mut self, f: impl FnOnce(&mut Guest, &mut dyn Stage2Tables) -> R) -> R {
        f(&mut self.g, &mut self.s2)
    }

    fn bind_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
        vmsa_args(device, pasid, root)
    }
}
