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
use vsva_iommu::vtd::pagetable::psi_chunks;

use super::{DESCRIPTORS_PER_WAIT, Installed, VtdBackend};
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
        let mut pending = Vec::new();
        let mut finish = Vec::new();
        let mut done = 0;
        for (i, op) in ops.iter().enumerate() {
            match self.descriptors_for(op, domain, env, &mut finish) {
                Ok(d) => {
                    if pending.len() + d.len() > DESCRIPTORS_PER_WAIT && !pending.is_empty() {
                        self.flush(&mut pending, &mut finish, env.budget)
                            .map_err(|e| (done, e))?;
                        done = i;
                    }
                    pending.extend(d);
                }
                Err(e) => {
                    return match self.flush(&mut pending, &mut finish, env.budget) {
                        Ok(()) => Err((i, e)),
                        Err(f) => Err((done, f)),
                    };
                }
            }
        }
        self.flush(&mut pending, &mut finish, env.budget)
            .map_err(|e| (done, e))
    }

    /// The descriptors invalidating `inv`'s ranges for a binding.
    fn shadow_descriptors(
        &self,
        inv: &ShadowInvalidation,
        installed: &Installed,
        pasid: Option<u32>,
        domain: u16,
    ) -> Vec<Descriptor> {
        let (did, tag, bits) = match installed {
            Installed::SecondShadow { did, shadow } => (*did, None, shadow.input_bits()),
            Installed::FirstShadow(shadow) => {
                (domain, Some(pasid.unwrap_or(0)), shadow.input_bits())
            }
            Installed::Nested => (domain, Some(pasid.unwrap_or(0)), 64),
        };
        let inv = inv.invalidation();
        inv.ranges()
            .iter()
            .flat_map(|r| {
                // The shadow's ranges are table addresses: the upper half's
                // are canonical addresses with the top bits set (§3.6).
                let start = if bits < 64 && r.start >> (bits - 1) != 0 {
                    r.start | !((1u64 << bits) - 1)
                } else {
                    r.start
                };
                self.unit
                    .range_descriptors(did, tag, start, r.len, inv.ih())
            })
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
                let installed = self.binds.get_mut(&(rid, pasid)).ok_or(not_bound)?;
                let inv = match installed {
                    Installed::Nested => {
                        let tag = Some(pasid.unwrap_or(0));
                        return Ok(self
                            .unit
                            .range_descriptors(domain.id, tag, start, len, leaf));
                    }
                    Installed::FirstShadow(s) => {
                        s.resync(mem, start, len, env.guest, env.budget, env.walk)
                    }
                    Installed::SecondShadow { shadow, .. } => {
                        shadow.resync(mem, start, len, env.guest, env.budget, env.walk)
                    }
                };
                self.after_resync(inv, rid, pasid, domain, finish, env.budget)?
            }
            UnitInvalidation::IotlbAll { rid, pasid, .. } => {
                let installed = self.binds.get_mut(&(rid, pasid)).ok_or(not_bound)?;
                let tag = pasid.unwrap_or(0);
                let (inv, whole) = match installed {
                    Installed::Nested => {
                        return Ok(alloc::vec![Descriptor::PasidIotlb {
                            domain: domain.id,
                            pasid: tag,
                            granularity: PasidIotlbGranularity::Pasid,
                        }]);
                    }
                    Installed::FirstShadow(s) => (
                        s.rebuild(mem, env.guest, env.budget, env.walk),
                        Descriptor::PasidIotlb {
                            domain: domain.id,
                            pasid: tag,
                            granularity: PasidIotlbGranularity::Pasid,
                        },
                    ),
                    Installed::SecondShadow { shadow, did } => {
                        let did = *did;
                        (
                            shadow.rebuild(mem, env.guest, env.budget, env.walk),
                            self.unit.iotlb(IotlbGranularity::Domain(did)),
                        )
                    }
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
                    domain: installed.did(domain.id),
                    granularity: PasidCacheGranularity::Pasid(pasid.unwrap_or(0)),
                }]
            }
            UnitInvalidation::PasidCacheAll { rid } => {
                let mut dids = alloc::vec![domain.id];
                for ((r, _), installed) in &self.binds {
                    if *r == rid {
                        dids.push(installed.did(domain.id));
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
            UnitInvalidation::DeviceTlb {
                rid,
                pasid,
                start,
                len,
            } => psi_chunks(start, len, 52)
                .map(|chunk| {
                    // ATS invalidation sizes (PCIe §10.2.2.2): with S set,
                    // the lowest clear bit of address 63:12 gives the span.
                    let size = chunk.am > 0;
                    let address = if size {
                        chunk.addr | ((1u64 << (11 + u32::from(chunk.am))) - 1) & !0xfff
                    } else {
                        chunk.addr
                    };
                    match pasid {
                        Some(pasid) => Descriptor::PasidDeviceTlb {
                            source_id: rid as u16,
                            pf_source_id: 0,
                            pasid,
                            max_pending: 0,
                            address,
                            size,
                            global: false,
                        },
                        None => Descriptor::DeviceTlb {
                            source_id: rid as u16,
                            pf_source_id: 0,
                            max_pending: 0,
                            address,
                            size,
                        },
                    }
                })
                .collect(),
        })
    }

    /// After a shadow re-sync: its descriptors, its tables to free after the
    /// wait; on a walk error, the unmapped part invalidated and the error.
    fn after_resync(
        &mut self,
        result: Result<ShadowInvalidation, (ShadowError, ShadowInvalidation)>,
        rid: u32,
        pasid: Option<u32>,
        domain: &Domain,
        finish: &mut Vec<ShadowInvalidation>,
        budget: &mut ShadowBudget,
    ) -> Result<Vec<Descriptor>, BackendError> {
        let installed = self
            .binds
            .get(&(rid, pasid))
            .ok_or(BackendError::Unsupported("nothing bound there"))?;
        match result {
            Ok(inv) => {
                let d = self.shadow_descriptors(&inv, installed, pasid, domain.id);
                finish.push(inv);
                Ok(d)
            }
            Err((e, inv)) => {
                let d = self.shadow_descriptors(&inv, installed, pasid, domain.id);
                for chunk in d.chunks(DESCRIPTORS_PER_WAIT) {
                    self.unit.invalidate(chunk)?;
                }
                inv.finish(self.unit.memory(), budget);
                Err(e.into())
            }
        }
    }

    /// Submits `pending` in chunks and waits, then frees what `finish` holds.
    fn flush(
        &mut self,
        pending: &mut Vec<Descriptor>,
        finish: &mut Vec<ShadowInvalidation>,
        budget: &mut ShadowBudget,
    ) -> Result<(), BackendError> {
        for chunk in pending.chunks(DESCRIPTORS_PER_WAIT) {
            self.unit.invalidate(chunk)?;
        }
        pending.clear();
        for inv in finish.drain(..) {
            inv.finish(self.unit.memory(), budget);
        }
        Ok(())
    }
}
