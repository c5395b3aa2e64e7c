//! One IOMMU-neutral unit type for a platform with either kind: the kernel
//! holds all its units as [`AnyUnit`]s, whatever machine it runs on.

use alloc::vec::Vec;

use vsva_abi::sva::{IommuKind, ResponseCode};

use super::{
    Backend, BackendError, DeviceInfo, Domain, Env, GuestCdTable, Limits, Stage1, UnitFault,
    UnitInvalidation, UnitRequest,
};

/// A VT-d or an SMMUv3 backend.
#[derive(Debug)]
pub enum AnyUnit<V, S> {
    Vtd(V),
    Smmu(S),
}

impl<V, S> AnyUnit<V, S> {
    /// The VT-d backend, if this is one.
    pub fn vtd(&mut self) -> Option<&mut V> {
        match self {
            Self::Vtd(v) => Some(v),
            Self::Smmu(_) => None,
        }
    }

    /// The SMMUv3 backend, if this is one.
    pub fn smmu(&mut self) -> Option<&mut S> {
        match self {
            Self::Smmu(s) => Some(s),
            Self::Vtd(_) => None,
        }
    }
}

/// Calls `$method` on whichever backend `$self` holds.
macro_rules! each {
    ($self:ident, $u:ident => $call:expr) => {
        match $self {
            AnyUnit::Vtd($u) => $call,
            AnyUnit::Smmu($u) => $call,
        }
    };
}

impl<V: Backend, S: Backend> Backend for AnyUnit<V, S> {
    fn kind(&self) -> IommuKind {
        each!(self, u => u.kind())
    }

    fn limits(&self, device: &DeviceInfo, domain: &Domain) -> Limits {
        each!(self, u => u.limits(device, domain))
    }

    fn attach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        each!(self, u => u.attach(rid, domain))
    }

    fn detach(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        each!(self, u => u.detach(rid, domain))
    }

    fn release_domain(&mut self, domain: &Domain) -> Result<(), BackendError> {
        each!(self, u => u.release_domain(domain))
    }

    fn bind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        table: &Stage1,
        device: &DeviceInfo,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        each!(self, u => u.bind_stage1(rid, pasid, table, device, domain, env))
    }

    fn unbind_stage1(
        &mut self,
        rid: u32,
        pasid: Option<u32>,
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), BackendError> {
        each!(self, u => u.unbind_stage1(rid, pasid, domain, env))
    }

    fn bind_cd_table(
        &mut self,
        rid: u32,
        table: &GuestCdTable,
        domain: &Domain,
    ) -> Result<(), BackendError> {
        each!(self, u => u.bind_cd_table(rid, table, domain))
    }

    fn unbind_cd_table(&mut self, rid: u32, domain: &Domain) -> Result<(), BackendError> {
        each!(self, u => u.unbind_cd_table(rid, domain))
    }

    fn invalidate(
        &mut self,
        ops: &[UnitInvalidation],
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), (usize, BackendError)> {
        each!(self, u => u.invalidate(ops, domain, env))
    }

    fn take_faults(&mut self) -> Vec<UnitFault> {
        each!(self, u => u.take_faults())
    }

    fn take_requests(&mut self) -> Vec<UnitRequest> {
        each!(self, u => u.take_requests())
    }

    fn answer(&mut self, request: &UnitRequest, code: ResponseCode) -> Result<(), BackendError> {
        each!(self, u => u.answer(request, code))
    }
}
