//! Translation in the model: the TLB, stage-1 and stage-2 walks, and a
//! device's DMA through them (SMMUv3 §3.4; Arm ARM D8).

use super::*;

impl State {
    pub(super) fn tlb_fill(&mut self, s2: bool, vmid: u16, asid: u16, addr: u64, leaf: Leaf) {
        let page = addr & !((1u64 << leaf.size_log2) - 1);
        self.tlb.retain(|e| {
            !(e.s2 == s2 && e.vmid == vmid && (s2 || e.asid == asid) && e.contains(addr))
        });
        self.tlb.push(TlbEntry {
            s2,
            vmid,
            asid,
            page,
            leaf,
        });
    }

    /// Stage 2 of `ipa` for an access of `class`: TLB or walk, then S2AP.
    pub(super) fn stage2(
        &mut self,
        bus: &Bus<'_>,
        c: &S2Config,
        vmid: u16,
        ipa: u64,
        access: Access,
        class: Class,
    ) -> Result<u64, WalkFault> {
        let fault = |event| WalkFault {
            event,
            s2: true,
            class,
            ipa,
            fetch: 0,
        };
        let hit = self
            .tlb
            .iter()
            .find(|e| e.s2 && e.vmid == vmid && e.contains(ipa))
            .map(|e| e.leaf);
        let leaf = match hit {
            Some(leaf) => leaf,
            None => {
                let leaf = walk::walk(&c.table, ipa, &mut S2Access { bus })
                    .map_err(|f| WalkFault { class, ipa, ..f })?;
                self.tlb_fill(true, vmid, 0, ipa, leaf);
                leaf
            }
        };
        let allowed = match access {
            Access::Read => leaf.read,
            Access::Write => leaf.write,
        };
        if !allowed || (c.ptw && class == Class::Tt && leaf.device) {
            return Err(fault(EventType::FPermission));
        }
        Ok(leaf.output(ipa))
    }

    /// Stage 1 of `va` with `cd`: TLB or walk (nested through `ste`'s stage 2), then AP.
    pub(super) fn stage1(
        &mut self,
        bus: &Bus<'_>,
        ste: &Ste,
        cd: &Cd,
        vmid: u16,
        va: u64,
        access: Access,
    ) -> Result<u64, WalkFault> {
        let fault = |event| WalkFault::config(event);
        // TTB0 or TTB1 by VA[55]; the TLB holds whole VAs (TBI's top byte made canonical).
        let (table, addr) = cd.select(va).ok_or(fault(EventType::FTranslation))?;
        let hit = self
            .tlb
            .iter()
            .find(|e| {
                !e.s2 && e.vmid == vmid && (e.leaf.global || e.asid == cd.asid) && e.contains(addr)
            })
            .map(|e| e.leaf);
        let leaf = match hit {
            Some(leaf) => leaf,
            None => {
                let mut acc = S1Access {
                    state: self,
                    bus,
                    s2: ste.s2,
                    vmid,
                };
                // TTB1's table is indexed by the VA's low (64 - T1SZ) bits (Arm ARM D8.2).
                let leaf = walk::walk(table, addr & mask(table.ia - 1, 0), &mut acc)?;
                self.tlb_fill(false, vmid, cd.asid, addr, leaf);
                leaf
            }
        };
        if access == Access::Write && !leaf.write {
            return Err(fault(EventType::FPermission));
        }
        Ok(leaf.output(addr))
    }

    pub(super) fn translate(
        &mut self,
        bus: &Bus<'_>,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Result<u64, Stop> {
        let cfg_fault = |f: WalkFault| classify(f, None, None);
        if self.cr0ack & CR0_SMMUEN == 0 {
            return if self.gbpa & GBPA_ABORT != 0 {
                Err(Stop::Abort)
            } else {
                Ok(addr)
            };
        }
        let ste = self.ste(bus, sid).map_err(cfg_fault)?;
        let bad_ssid = || cfg_fault(WalkFault::config(EventType::CBadSubstreamid));
        let (s1, s2) = match ste.config {
            Config::Abort => return Err(Stop::Abort),
            Config::Bypass if ssid.is_some() => return Err(bad_ssid()),
            Config::Bypass => return Ok(addr),
            Config::Translate { s1, s2 } => (s1, s2),
        };
        // S2VMID tags stage-1-only entries too when stage 2 is implemented (§5.2).
        let vmid = ste.s2vmid & self.vmid_mask();
        let s2_rules = ste.s2.map(|c| (c.s2r, c.s2s));
        let cd_index = match (s1, ssid) {
            (false, Some(_)) => return Err(bad_ssid()),
            (false, None) => None,
            (true, Some(x)) => {
                if ste.s1cdmax == 0 || x >> ste.s1cdmax != 0 || (ste.s1dss == 0b10 && x == 0) {
                    return Err(bad_ssid());
                }
                Some(x)
            }
            (true, None) if ste.s1cdmax == 0 => Some(0),
            (true, None) => match ste.s1dss {
                0b01 => None,
                0b10 => Some(0),
                _ => {
                    return Err(cfg_fault(WalkFault::config(EventType::FStreamDisabled)));
                }
            },
        };
        let ipa = match cd_index {
            Some(index) => {
                let cd = self
                    .cd(bus, sid, &ste, index, vmid)
                    .map_err(|f| classify(f, None, s2_rules))?;
                let s1_rules = Some((cd.r, cd.s && !ste.s1stalld));
                self.stage1(bus, &ste, &cd, vmid, addr, access)
                    .map_err(|f| classify(f, s1_rules, s2_rules))?
            }
            None => addr,
        };
        match (s2, ste.s2) {
            (true, Some(c)) => self
                .stage2(bus, &c, vmid, ipa, access, Class::In)
                .map_err(|f| classify(f, None, s2_rules)),
            _ => Ok(ipa),
        }
    }

    /// A whole DMA: every 4 KiB chunk translated first, then the data moved.
    pub(super) fn dma(
        &mut self,
        bus: &Bus<'_>,
        sid: u32,
        ssid: Option<u32>,
        iova: u64,
        dma: Dma<'_>,
    ) -> Result<(), ModelEvent> {
        let (access, len) = match &dma {
            Dma::Read(b) => (Access::Read, b.len()),
            Dma::Write(d) => (Access::Write, d.len()),
        };
        let mut chunks = Vec::new();
        let mut addr = iova;
        let mut left = len as u64;
        while left > 0 {
            // Page by page; an access running off the top of the address
            // space goes on at 0, as the device's requests would.
            let n = (0x1000 - (addr & 0xfff)).min(left);
            match self.translate(bus, sid, ssid, addr, access) {
                Ok(pa) => chunks.push((pa, n as usize)),
                Err(stop) => {
                    let ev = self.report(bus, stop, sid, ssid, addr, access, true);
                    if let Some(stag) = ev.stag {
                        self.stalls.push(StalledTransaction {
                            stag,
                            sid,
                            ssid,
                            iova,
                            access,
                            data: match &dma {
                                Dma::Read(b) => StalledData::Read(b.len()),
                                Dma::Write(d) => StalledData::Write(d.to_vec()),
                            },
                            event: ev,
                        });
                    }
                    return Err(ev);
                }
            }
            left -= n;
            addr = addr.wrapping_add(n);
        }
        let mut done = 0;
        match dma {
            Dma::Read(buf) => {
                for (pa, n) in chunks {
                    bus.mem.read(pa, &mut buf[done..done + n]);
                    done += n;
                }
            }
            Dma::Write(data) => {
                for (pa, n) in chunks {
                    bus.mem.write(pa, &data[done..done + n]);
                    done += n;
                }
            }
        }
        Ok(())
    }
}
