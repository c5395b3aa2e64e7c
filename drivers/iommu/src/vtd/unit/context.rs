//! Root and context tables (§9.1–§9.4): the per-bus context tables linked from
//! the root table, legacy-mode attachment, detach, and the cache invalidations a
//! context-entry change needs (§6.5.3.3).

use super::{Mode, Unit, VtdError};
use crate::hw::{Clock, DmaMemory, RegisterAccess};
use crate::vtd::invalidation::{
    ContextGranularity, Descriptor, IotlbGranularity, PasidCacheGranularity,
};
use crate::vtd::tables::{
    AddressWidth, ContextEntry, RootEntry, ScalableRootEntry, TranslationType, clear_entry,
    publish_entry,
};

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Unit<R, M, C> {
    /// The context table for `rid`'s bus (and half, in scalable mode), created
    /// and linked from the root table on first use.
    fn context_table(&mut self, rid: u16) -> Result<u64, VtdError> {
        let bus = (rid >> 8) as u8;
        let devfn = rid as u8;
        let upper = self.mode == Mode::Scalable && devfn >= 128;
        if let Some(&t) = self.context_tables.get(&(bus, upper)) {
            return Ok(t);
        }
        let table = self.memory.alloc_pages(1).ok_or(VtdError::OutOfMemory)?;
        self.context_tables.insert((bus, upper), table);
        let root = self.root + 16 * u64::from(bus);
        let words = match self.mode {
            Mode::Legacy => RootEntry {
                context_table: Some(table),
            }
            .encode(),
            Mode::Scalable => ScalableRootEntry {
                lower: self.context_tables.get(&(bus, false)).copied(),
                upper: self.context_tables.get(&(bus, true)).copied(),
            }
            .encode(),
        };
        // The root entry only gains a pointer: no cached entry goes stale.
        self.memory.write64(root + 8, words[1]);
        self.memory.write64(root, words[0]);
        self.memory.publish();
        Ok(table)
    }

    /// Address of `rid`'s context entry (16 bytes legacy, 32 scalable).
    pub(super) fn context_entry(&mut self, rid: u16) -> Result<u64, VtdError> {
        let table = self.context_table(rid)?;
        let devfn = u64::from(rid as u8);
        Ok(match self.mode {
            Mode::Legacy => table + 16 * devfn,
            Mode::Scalable => table + 32 * (devfn % 128),
        })
    }

    /// Legacy mode: translates `rid`'s DMA through the second-stage table at
    /// `root` (or passes it through), in domain `domain`.
    pub fn attach_legacy(
        &mut self,
        rid: u16,
        domain: u16,
        translation: TranslationType,
        root: u64,
        width: AddressWidth,
    ) -> Result<(), VtdError> {
        if self.mode != Mode::Legacy {
            return Err(VtdError::WrongMode);
        }
        if translation == TranslationType::PassThrough && !self.id.ecap.pt() {
            return Err(VtdError::Unsupported("ECAP.PT"));
        }
        let at = self.context_entry(rid)?;
        let entry = ContextEntry {
            fault_processing_disable: false,
            translation_type: translation,
            second_stage: root,
            address_width: width,
            domain_id: domain,
        };
        publish_entry(&self.memory, at, &entry.encode());
        self.after_context_change(rid, domain)
    }

    /// The invalidations a context-entry change needs (§6.5.3.3): the device's
    /// context-cache entry, then the domain's IOTLB (and PASID cache).
    pub(super) fn after_context_change(&mut self, rid: u16, domain: u16) -> Result<(), VtdError> {
        let mut batch = alloc::vec![Descriptor::ContextCache(ContextGranularity::Device {
            domain,
            source_id: rid,
            function_mask: 0,
        }),];
        if self.mode == Mode::Scalable {
            batch.push(Descriptor::PasidCache {
                domain,
                granularity: PasidCacheGranularity::Domain,
            });
        }
        batch.push(self.iotlb(IotlbGranularity::Domain(domain)));
        self.invalidate(&batch)
    }

    /// Removes `rid`'s context entry (either mode) and invalidates its caches.
    pub fn detach(&mut self, rid: u16, domain: u16) -> Result<(), VtdError> {
        let at = self.context_entry(rid)?;
        let words = if self.mode == Mode::Scalable { 4 } else { 2 };
        clear_entry(&self.memory, at, words);
        if let Some(dir) = self.pasid_dirs.remove(&rid) {
            self.after_context_change(rid, domain)?;
            // Tables are freed only after the caches that may hold them are flushed.
            for table in dir.tables.values() {
                self.memory.free_pages(*table, 1);
            }
            self.memory.free_pages(dir.directory, 1);
            return Ok(());
        }
        self.after_context_change(rid, domain)
    }
}
