//! Scalable mode: per-device PASID directories and PASID tables (§9.5–§9.6), and
//! the invalidations a PASID-table entry change needs (§6.5.3.3).

use alloc::collections::BTreeMap;

use super::{Mode, Unit, VtdError};
use crate::hw::{Clock, DmaMemory, RegisterAccess};
use crate::vtd::invalidation::{
    Descriptor, IotlbGranularity, PasidCacheGranularity, PasidIotlbGranularity,
};
use crate::vtd::tables::{
    PASIDS_PER_TABLE, PasidDirectoryEntry, PasidEntry, PasidTranslation, ScalableContextEntry,
    clear_entry, publish_entry,
};

/// Per-device scalable-mode state: the PASID directory and its tables.
#[derive(Debug)]
pub(super) struct PasidDirectory {
    pub(super) directory: u64,
    /// Directory index -> PASID table page.
    pub(super) tables: BTreeMap<u32, u64>,
}

/// Entries in one PASID directory page (512 8-byte entries).
const DIRECTORY_ENTRIES: u32 = 512;

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Unit<R, M, C> {
    /// PASID width this unit accepts (ECAP.PSS + 1; ECAP.PASID clear means only
    /// PASID 0, the RID_PASID).
    pub fn pasid_bits(&self) -> u8 {
        self.id.ecap.pasid_bits().unwrap_or(0)
    }

    /// Scalable mode: points `rid`'s context entry at a PASID directory (created
    /// on first use) with PASID requests enabled where ECAP.PASID.
    fn pasid_directory(&mut self, rid: u16, domain: u16) -> Result<u64, VtdError> {
        if let Some(d) = self.pasid_dirs.get(&rid) {
            return Ok(d.directory);
        }
        let directory = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
        self.pasid_dirs.insert(
            rid,
            PasidDirectory {
                directory,
                tables: BTreeMap::new(),
            },
        );
        let at = self.context_entry(rid)?;
        let entry = ScalableContextEntry {
            fault_processing_disable: false,
            device_tlb: false,
            pasid_enable: self.id.ecap.pasid(),
            page_request: self.id.ecap.prs() && self.prq.is_some(),
            pasid_directory: directory,
            // One directory page: 512 entries, 2^(2 + 7), PASIDs below 2^15.
            directory_size: 2,
            rid_pasid: 0,
        };
        publish_entry(&self.memory, at, &entry.encode());
        self.after_context_change(rid, domain)?;
        Ok(directory)
    }

    /// Scalable mode: sets the PASID-table entry of (`rid`, `pasid`), creating
    /// the context entry, directory and table as needed, then the invalidations
    /// §6.5.3.3 asks for: PASID cache (PASID-selective), IOTLB for the PASID and
    /// the domain.
    pub fn set_pasid_entry(
        &mut self,
        rid: u16,
        pasid: u32,
        entry: PasidEntry,
    ) -> Result<(), VtdError> {
        if self.mode != Mode::Scalable {
            return Err(VtdError::WrongMode);
        }
        match entry.translation {
            PasidTranslation::FirstStage { .. } if !self.id.ecap.flts() => {
                return Err(VtdError::Unsupported("ECAP.FLTS"));
            }
            PasidTranslation::SecondStage { .. } if !self.id.ecap.slts() => {
                return Err(VtdError::Unsupported("ECAP.SLTS"));
            }
            PasidTranslation::Nested { .. } if !self.id.ecap.nest() => {
                return Err(VtdError::Unsupported("ECAP.NEST"));
            }
            PasidTranslation::Nested {
                extended_access: true,
                ..
            } if !self.id.ecap.eafs() => {
                return Err(VtdError::Unsupported("ECAP.EAFS"));
            }
            PasidTranslation::Nested {
                supervisor: true, ..
            }
            | PasidTranslation::FirstStage {
                supervisor: true, ..
            } if !self.id.ecap.srs() => {
                return Err(VtdError::Unsupported("ECAP.SRS"));
            }
            PasidTranslation::PassThrough if !self.id.ecap.pt() => {
                return Err(VtdError::Unsupported("ECAP.PT"));
            }
            _ => {}
        }
        let index = pasid / PASIDS_PER_TABLE;
        if pasid != 0 && (pasid >= 1 << self.pasid_bits().min(20) || index >= DIRECTORY_ENTRIES) {
            return Err(VtdError::BadPasid(pasid));
        }
        let directory = self.pasid_directory(rid, entry.domain_id)?;
        let dir = self.pasid_dirs.get_mut(&rid).ok_or(VtdError::NotAttached)?;
        let table = match dir.tables.get(&index) {
            Some(&t) => t,
            None => {
                let t = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
                dir.tables.insert(index, t);
                let pde = PasidDirectoryEntry {
                    fault_processing_disable: false,
                    table: t,
                };
                self.memory
                    .write64(directory + 8 * u64::from(index), pde.encode());
                self.memory.publish();
                t
            }
        };
        let at = table + 64 * u64::from(pasid % PASIDS_PER_TABLE);
        publish_entry(&self.memory, at, &entry.encode());
        self.after_pasid_change(entry.domain_id, pasid)
    }

    fn after_pasid_change(&mut self, domain: u16, pasid: u32) -> Result<(), VtdError> {
        self.invalidate(&[
            Descriptor::PasidCache {
                domain,
                granularity: PasidCacheGranularity::Pasid(pasid),
            },
            Descriptor::PasidIotlb {
                domain,
                pasid,
                granularity: PasidIotlbGranularity::Pasid,
            },
            self.iotlb(IotlbGranularity::Domain(domain)),
        ])
    }

    /// Scalable mode: removes (`rid`, `pasid`) and invalidates its caches.
    pub fn clear_pasid_entry(&mut self, rid: u16, pasid: u32, domain: u16) -> Result<(), VtdError> {
        let dir = self.pasid_dirs.get(&rid).ok_or(VtdError::NotAttached)?;
        let table = *dir
            .tables
            .get(&(pasid / PASIDS_PER_TABLE))
            .ok_or(VtdError::NotAttached)?;
        clear_entry(
            &self.memory,
            table + 64 * u64::from(pasid % PASIDS_PER_TABLE),
            8,
        );
        self.after_pasid_change(domain, pasid)
    }
}
