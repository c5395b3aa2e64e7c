//! Invalidation in the model: the register-based context and IOTLB
//! invalidations and the queued-invalidation interface (VT-d §6.5).

use super::*;

impl State {
    pub(super) fn write_ccmd(&mut self, v: u64) {
        if v >> 63 == 0 || self.gsts & GCMD_QIE != 0 {
            // No ICC, or register-based invalidation while QI is on: ignored (as QEMU).
            if self.gsts & GCMD_QIE == 0 {
                self.ccmd = v;
            }
            return;
        }
        let cirg = field(v, 62, 61);
        let granularity = match cirg {
            1 => Some(CcGranularity::Global),
            2 => Some(CcGranularity::Domain),
            3 => Some(CcGranularity::Device),
            _ => None,
        };
        if let Some(g) = granularity {
            self.invalidate_context(
                g,
                field(v, 15, 0) as u16,
                field(v, 31, 16) as u16,
                field(v, 33, 32) as u8,
            );
            self.counts.register_context_cache += 1;
        }
        // ICC clears; CAIG (60:59) reports the granularity done (0 = not done).
        let caig = if granularity.is_some() { cirg } else { 0 };
        self.ccmd = (v & !(1 << 63) & !mask(60, 59)) | caig << 59;
    }

    pub(super) fn write_iotlb_reg(&mut self, v: u64) {
        if v >> 63 == 0 || self.gsts & GCMD_QIE != 0 {
            if self.gsts & GCMD_QIE == 0 {
                self.iotlb_reg = v;
            }
            return;
        }
        let did = field(v, 47, 32) as u16;
        let addr = self.iva & !0xfff;
        let am = field(self.iva, 5, 0) as u8;
        let mut iirg = field(v, 61, 60);
        let done = match iirg {
            1 => self.invalidate_iotlb(IotlbGranularity::Global, did, 0, 0),
            2 => self.invalidate_iotlb(IotlbGranularity::Domain, did, 0, 0),
            3 if !cap_psi(self.cap) => {
                iirg = 2;
                self.invalidate_iotlb(IotlbGranularity::Domain, did, 0, 0)
            }
            3 => self.invalidate_iotlb(IotlbGranularity::Page, did, addr, am),
            _ => false,
        };
        if done {
            self.counts.register_iotlb += 1;
        }
        // IVT clears; IAIG (58:57) reports the granularity done (0 = not done).
        let iaig = if done { iirg } else { 0 };
        self.iotlb_reg = (v & !(1 << 63) & !mask(58, 57)) | iaig << 57;
    }

    pub(super) fn invalidate_context(&mut self, g: CcGranularity, did: u16, sid: u16, fm: u8) {
        let fmask: u16 = [0, 0b100, 0b110, 0b111][usize::from(fm & 3)];
        match g {
            CcGranularity::Global => self.context_cache.clear(),
            // Scalable-mode entries carry no DID: a domain-selective invalidation drops them.
            CcGranularity::Domain => self
                .context_cache
                .retain(|_, c| c.did().is_some_and(|d| d != did)),
            CcGranularity::Device => self.context_cache.retain(|rid, c| {
                let same_device = (rid ^ sid) & !fmask == 0;
                !(same_device && c.did().is_none_or(|d| d == did))
            }),
        }
    }

    /// IOTLB invalidation (§6.5.2.3): global and domain-selective drop every kind of entry;
    /// page-selective drops second-stage entries in the range and (conservatively) every
    /// nested entry of the domain, but not first-stage ones (those need a PASID-based
    /// invalidation). Returns false for an AM above CAP.MAMV.
    pub(super) fn invalidate_iotlb(
        &mut self,
        g: IotlbGranularity,
        did: u16,
        addr: u64,
        am: u8,
    ) -> bool {
        match g {
            IotlbGranularity::Global => self.iotlb.clear(),
            IotlbGranularity::Domain => self.iotlb.retain(|e| e.did != did),
            IotlbGranularity::Page => {
                if u32::from(am) > cap_mamv(self.cap) {
                    return false;
                }
                self.iotlb.retain(|e| {
                    e.did != did
                        || match e.kind {
                            Kind::Second => !e.overlaps(addr, am),
                            Kind::Nested => false,
                            Kind::First => true,
                        }
                });
            }
        }
        true
    }

    /// Processes descriptors from IQH to IQT (§6.5.2) unless QI is off or an IQE/ITE stops
    /// the queue.
    pub(super) fn process_queue(&mut self, mem: &SimMemory) {
        if self.gsts & GCMD_QIE == 0 || self.fsts & (FSTS_IQE | FSTS_ITE) != 0 {
            return;
        }
        let wide = bit(self.iqa, 11);
        let dsize = if wide { 32 } else { 16 };
        let qsize = 4096u64 << (self.iqa & 7);
        let base = self.iqa & !0xfff;
        if wide && self.iqt & 0x10 != 0 {
            self.queue_error(Iqei::TailMisaligned);
            return;
        }
        while self.iqh != self.iqt {
            let at = base + self.iqh;
            let mut q = [0u64; 4];
            for (i, w) in q.iter_mut().enumerate().take(dsize / 8) {
                *w = crate::hw::DmaMemory::read64(mem, at + 8 * i as u64);
            }
            if self.take_injected(InjectedError::DescriptorError) {
                self.queue_error(Iqei::NotAvailable);
                return;
            }
            let d = match descriptor::decode(q, wide, self.ecap) {
                Ok(d) => d,
                Err(e) => {
                    self.queue_error(e);
                    return;
                }
            };
            if let Err(e) = self.execute(mem, &d) {
                self.queue_error(e);
                return;
            }
            self.log.push(d);
            self.iqh = (self.iqh + dsize as u64) % qsize;
            if let Descriptor::DeviceTlb { sid, .. } | Descriptor::PasidDeviceTlb { sid, .. } = d {
                if self.take_injected(InjectedError::CompletionError) {
                    self.iqercd = (self.iqercd & !mask(63, 48)) | u64::from(sid) << 48;
                    self.set_fsts(FSTS_ICE);
                }
                if self.take_injected(InjectedError::DeviceTlbTimeout) {
                    self.iqercd = (self.iqercd & !mask(47, 32)) | u64::from(sid) << 32;
                    self.set_fsts(FSTS_ITE);
                    return;
                }
            }
        }
    }

    pub(super) fn queue_error(&mut self, iqei: Iqei) {
        self.iqercd = (self.iqercd & !0xf) | iqei as u64;
        self.set_fsts(FSTS_IQE);
    }

    pub(super) fn execute(&mut self, mem: &SimMemory, d: &Descriptor) -> Result<(), Iqei> {
        let c = &mut self.counts;
        match *d {
            Descriptor::ContextCache {
                granularity,
                did,
                sid,
                fm,
            } => {
                c.context_cache += 1;
                self.invalidate_context(granularity, did, sid, fm);
            }
            Descriptor::Iotlb {
                granularity,
                did,
                addr,
                am,
                ..
            } => {
                let g = if granularity == IotlbGranularity::Page && !cap_psi(self.cap) {
                    IotlbGranularity::Domain
                } else {
                    granularity
                };
                if !self.invalidate_iotlb(g, did, addr, am) {
                    return Err(Iqei::Reserved);
                }
                self.counts.iotlb += 1;
            }
            Descriptor::DeviceTlb { .. } => c.device_tlb += 1,
            Descriptor::PasidDeviceTlb { .. } => c.pasid_device_tlb += 1,
            Descriptor::InterruptEntryCache { .. } => c.interrupt_entry_cache += 1,
            Descriptor::Wait {
                interrupt,
                status_write,
                data,
                addr,
                ..
            } => {
                c.wait += 1;
                if status_write {
                    mem.write_u32(addr, data);
                }
                if interrupt && self.ics & ICS_IWC == 0 {
                    self.ics |= ICS_IWC;
                    signal(&mut self.iectl, &mut self.events.invalidation);
                }
            }
            Descriptor::PasidIotlb {
                granularity,
                did,
                pasid,
                addr,
                am,
                ..
            } => {
                if u32::from(am) > cap_mamv(self.cap) {
                    return Err(Iqei::Reserved);
                }
                c.pasid_iotlb += 1;
                self.iotlb.retain(|e| {
                    let hit = e.did == did
                        && e.pasid == Some(pasid)
                        && matches!(e.kind, Kind::First | Kind::Nested)
                        && match granularity {
                            PiotlbGranularity::NonGlobalPasid => !e.leaf.global,
                            PiotlbGranularity::PageInPasid => e.overlaps(addr, am),
                        };
                    !hit
                });
            }
            Descriptor::PasidCache {
                granularity,
                did,
                pasid,
            } => {
                c.pasid_cache += 1;
                match granularity {
                    PcGranularity::Global => self.pasid_cache.clear(),
                    PcGranularity::Domain => self.pasid_cache.retain(|_, e| e.did != did),
                    PcGranularity::Pasid => self
                        .pasid_cache
                        .retain(|(_, p), e| !(e.did == did && *p == pasid)),
                }
            }
            Descriptor::PageGroupResponse(r) => {
                c.page_group_response += 1;
                self.responses.push(r);
            }
        }
        Ok(())
    }
}
