//! Invalidations of the VT-d backend: the queued-invalidation descriptors of
//! each operation (PASID-based where the translations are PASID-tagged,
//! domain-based for second-stage shadows), shadows re-synced on the way,
//! submitted in chunks with one wait each; the shadows' old table pages
//! freed only after the wait that covers them (§6.5.2.8).

use alloc::vec::Vec;

use vsva_iommu::hw::{Clock, DmaMemory, RegisterAccess};
use vsva_iommu::vtd::invalidation::{
    Descriptor, IotlbGranularity, PasidCacheGranularity, PasidIotlbGranularity,
};

use super::{DESCRIPTORS_PER_WAIT, Installed, Table, VtdBackend};
use crate::backend::batch::{self, Batch};
use crate::backend::{BackendError, Domain, Env, UnitInvalidation};
use crate::shadow::{ShadowBudget, ShadowError, ShadowInvalidation};

impl<R: RegisterAccess, M: DmaMemory, C: Clock> VtdBackend<R, M, C> {
    /// Carries out `ops` in order (see `Backend::invalidate`).
    pub(super) fn run_invalidations(
        &mut self,
        ops: &[UnitInvalidation],
        domain: &Domain,
        env: &mut Env<'_>,
    ) -> Result<(), (usize, BackendError)> {
        let mut run = Run {
            backend: self,
            domain,
            env,
            staged: Vec::new(),
            finish: Vec::new(),
        };
        batch::run(&mut run, ops)
    }

    /// The descriptors invalidating `[start, start + len)` of a binding,
    /// under its DID (and PASID where its translations carry one).
    fn binding_range(
        &self,
        installed: &Installed,
        pasid: Option<u32>,
        start: u64,
        len: u64,
        leaf: bool,
    ) -> Vec<Descriptor> {
        let start = canonical(start, installed.input_bits);
        self.unit
            .range_descriptors(installed.did, installed.tag(pasid), start, len, leaf)
    }

    /// The descriptors invalidating a shadow change's ranges.
    fn shadow_descriptors(
        &self,
        inv: &ShadowInvalidation,
        installed: &Installed,
        pasid: Option<u32>,
    ) -> Vec<Descriptor> {
        let inv = inv.invalidation();
        inv.ranges()
            .iter()
            .flat_map(|r| self.binding_range(installed, pasid, r.start, r.len, inv.ih()))
            .collect()
    }

    /// The descriptors of one operation; shadows re-synced on the way
    /// (their freed tables in `finish`, to be freed after the wait).
    fn descriptors_for(
        &mut self,
        op: &UnitInvalidation,
        domain: &Domain,
        env: &mut Env<'_>,
        finish: &mut Vec<ShadowInvalidation>,
    ) -> Result<Vec<Descriptor>, BackendError> {
        let not_bound = BackendError::Unsupported("nothing bound there");
        let mem = self.unit.memory();
        Ok(match *op {
            UnitInvalidation::IotlbRange {
                rid,
                pasid,
                start,
                len,
                leaf,
                ..
            } => {
                let installed = self.binds.get(&(rid, pasid)).ok_or(not_bound)?;
                if let Table::Nested = installed.table {
                    // The guest's own table: nothing to re-sync.
                    return Ok(self.binding_range(installed, pasid, start, len, leaf));
                }
                let installed = self.binds.get_mut(&(rid, pasid)).ok_or(not_bound)?;
                let inv = match &mut installed.table {
                    Table::Nested => return Ok(Vec::new()),
                    Table::FirstShadow(s) => {
                        s.resync(mem, start, len, env.guest, env.budget, env.walk)
                    }
                    Table::SecondShadow(s) => {
                        s.resync(mem, start, len, env.guest, env.budget, env.walk)
                    }
                };
                self.after_resync(inv, rid, pasid, finish, env.budget)?
            }
            UnitInvalidation::IotlbAll { rid, pasid, .. } => {
                let installed = self.binds.get_mut(&(rid, pasid)).ok_or(not_bound)?;
                let whole = match installed.tag(pasid) {
                    Some(tag) => Descriptor::PasidIotlb {
                        domain: installed.did,
                        pasid: tag,
                        granularity: PasidIotlbGranularity::Pasid,
                    },
                    None => self.unit.iotlb(IotlbGranularity::Domain(installed.did)),
                };
                let inv = match &mut installed.table {
                    Table::Nested => return Ok(alloc::vec![whole]),
                    Table::FirstShadow(s) => s.rebuild(mem, env.guest, env.budget, env.walk),
                    Table::SecondShadow(s) => s.rebuild(mem, env.guest, env.budget, env.walk),
                };
                match inv {
                    Ok(inv) => {
                        finish.push(inv);
                        alloc::vec![whole]
                    }
                    Err((e, inv)) => {
                        self.unit.invalidate(&[whole])?;
                        inv.finish(self.unit.memory(), env.budget);
                        return Err(e.into());
                    }
                }
            }
            UnitInvalidation::PasidCache { rid, pasid } => {
                let installed = self.binds.get(&(rid, pasid)).ok_or(not_bound)?;
                alloc::vec![Descriptor::PasidCache {
                    domain: installed.did,
                    granularity: PasidCacheGranularity::Pasid(pasid.unwrap_or(0)),
                }]
            }
            UnitInvalidation::PasidCacheAll { rid } => {
                let mut dids = alloc::vec![domain.id];
                for ((r, _), installed) in &self.binds {
                    if *r == rid {
                        dids.push(installed.did);
                    }
                }
                dids.sort_unstable();
                dids.dedup();
                dids.into_iter()
                    .map(|did| Descriptor::PasidCache {
                        domain: did,
                        granularity: PasidCacheGranularity::Domain,
                    })
                    .collect()
            }
        })
    }

    /// After a shadow re-sync: its descriptors, its tables to free after the
    /// wait; on a walk error, the unmapped part invalidated and the error.
    fn after_resync(
        &mut self,
        result: Result<ShadowInvalidation, (ShadowError, ShadowInvalidation)>,
        rid: u32,
        pasid: Option<u32>,
        finish: &mut Vec<ShadowInvalidation>,
        budget: &mut ShadowBudget,
    ) -> Result<Vec<Descriptor>, BackendError> {
        let installed = self
            .binds
            .get(&(rid, pasid))
            .ok_or(BackendError::Unsupported("nothing bound there"))?;
        match result {
            Ok(inv) => {
                let d = self.shadow_descriptors(&inv, installed, pasid);
                finish.push(inv);
                Ok(d)
            }
            Err((e, inv)) => {
                let d = self.shadow_descriptors(&inv, installed, pasid);
                for chunk in d.chunks(DESCRIPTORS_PER_WAIT) {
                    self.unit.invalidate(chunk)?;
                }
                inv.finish(self.unit.memory(), budget);
                Err(e.into())
            }
        }
    }
}

/// One call's invalidations: the shadows' freed tables wait in `staged`
/// until their descriptors are in the batch, then in `finish` until the
/// wait that covers them (§6.5.2.8).
struct Run<'a, 'e, R, M, C> {
    backend: &'a mut VtdBackend<R, M, C>,
    domain: &'a Domain,
    env: &'a mut Env<'e>,
    staged: Vec<ShadowInvalidation>,
    finish: Vec<ShadowInvalidation>,
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Batch for Run<'_, '_, R, M, C> {
    type Item = Descriptor;
    const PER_WAIT: usize = DESCRIPTORS_PER_WAIT;

    fn items(&mut self, op: &UnitInvalidation) -> Result<Vec<Descriptor>, BackendError> {
        self.backend
            .descriptors_for(op, self.domain, self.env, &mut self.staged)
    }

    fn queued(&mut self) {
        self.finish.append(&mut self.staged);
    }

    fn submit(&mut self, items: &[Descriptor]) -> Result<(), BackendError> {
        for chunk in items.chunks(DESCRIPTORS_PER_WAIT) {
            self.backend.unit.invalidate(chunk)?;
        }
        let mem = self.backend.unit.memory();
        for inv in self.finish.drain(..) {
            inv.finish(mem, self.env.budget);
        }
        Ok(())
    }
}

/// `address` as the unit sees it: a table with `bits` of input translates
/// canonical addresses, the upper half's with the top bits set (§3.6), which
/// the guest and the shadows name without them.
fn canonical(address: u64, bits: u8) -> u64 {
    if bits < 64 && address >> (bits - 1) != 0 {
        address | !((1u64 << bits) - 1)
    } else {
        address
    }
}
