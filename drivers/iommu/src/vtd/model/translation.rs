//! Address translation in the model: root and context entries, the IOTLB,
//! legacy and scalable-mode walks (VT-d §3, §9).

use super::*;

impl State {
    pub(super) fn walker<'a>(&self, mem: &'a SimMemory) -> Walker<'a> {
        Walker {
            mem,
            cap: self.cap,
            ecap: self.ecap,
        }
    }

    pub(super) fn translate(
        &mut self,
        mem: &SimMemory,
        rid: u16,
        pasid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Result<u64, ModelFault> {
        if self.gsts & GCMD_TE == 0 {
            return Ok(addr);
        }
        self.lookup(mem, rid, pasid, addr, access)
            .map_err(|f| self.record_fault(f, rid, pasid, addr, access))
    }

    /// The latched root table and whether it is in scalable mode.
    pub(super) fn root(&self) -> Result<(u64, bool), WalkFault> {
        match self.root {
            None => Err(WalkFault::new(FaultReason::RootTableAccess, false)),
            Some((addr, 0)) => Ok((addr, false)),
            Some((addr, 1)) if ecap_smts(self.ecap) => Ok((addr, true)),
            Some(_) => Err(WalkFault::new(FaultReason::InvalidTtm, false)),
        }
    }

    /// The context entry of `rid`, from the context cache or a walk that fills it.
    pub(super) fn context(&mut self, mem: &SimMemory, rid: u16) -> Result<ContextEntry, WalkFault> {
        let (root, scalable) = self.root()?;
        if let Some(c) = self.context_cache.get(&rid) {
            return Ok(*c);
        }
        let c = self.walker(mem).context(root, scalable, rid)?;
        self.context_cache.insert(rid, c);
        Ok(c)
    }

    pub(super) fn iotlb_hit(
        &self,
        did: u16,
        pasid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Option<u64> {
        self.iotlb
            .iter()
            .find(|e| {
                e.did == did
                    && e.pasid == pasid
                    && e.contains(addr)
                    && (access == Access::Read || e.leaf.write)
            })
            .map(|e| e.leaf.output(addr))
    }

    pub(super) fn iotlb_fill(
        &mut self,
        did: u16,
        pasid: Option<u32>,
        kind: Kind,
        addr: u64,
        leaf: Leaf,
    ) {
        let page = addr & !((1u64 << leaf.size_log2) - 1);
        self.iotlb
            .retain(|e| !(e.did == did && e.pasid == pasid && e.contains(addr)));
        self.iotlb.push(IotlbEntry {
            did,
            pasid,
            kind,
            page,
            leaf,
        });
    }

    pub(super) fn lookup(
        &mut self,
        mem: &SimMemory,
        rid: u16,
        pasid: Option<u32>,
        addr: u64,
        access: Access,
    ) -> Result<u64, WalkFault> {
        let ctx = self.context(mem, rid)?;
        let (out, scalable, fpd) = match ctx {
            ContextEntry::Legacy {
                fpd,
                tt,
                slptptr,
                aw,
                did,
            } => {
                if pasid.is_some() {
                    return Err(WalkFault::new(FaultReason::TranslationTypeBlocked, fpd));
                }
                let out = if tt == 2 {
                    addr
                } else if let Some(out) = self.iotlb_hit(did, None, addr, access) {
                    out
                } else {
                    let leaf = self
                        .walker(mem)
                        .second_stage(slptptr, aw, addr, access, false, false)
                        .map_err(|r| WalkFault::new(r, fpd))?;
                    self.iotlb_fill(did, None, Kind::Second, addr, leaf);
                    leaf.output(addr)
                };
                (out, false, fpd)
            }
            ContextEntry::Scalable {
                fpd,
                paside,
                pdts,
                pasid_dir,
                rid_pasid,
                ..
            } => {
                let p = match pasid {
                    Some(p) if paside && ecap_pasid(self.ecap) => p,
                    Some(_) => return Err(WalkFault::new(FaultReason::SmContextEntryInvalid, fpd)),
                    None => rid_pasid,
                };
                let pe = match self.pasid_cache.get(&(rid, p)) {
                    Some(pe) => *pe,
                    None => {
                        let pe = self.walker(mem).pasid_entry(pasid_dir, pdts, fpd, p)?;
                        self.pasid_cache.insert((rid, p), pe);
                        pe
                    }
                };
                let out = self
                    .scalable_translate(mem, &pe, p, addr, access)
                    .map_err(|r| WalkFault::new(r, pe.fpd))?;
                (out, true, pe.fpd)
            }
        };
        if INTERRUPT_RANGE.contains(&out) {
            let reason = if scalable {
                FaultReason::SmInterruptAddress
            } else {
                FaultReason::InterruptAddress
            };
            return Err(WalkFault::new(reason, fpd));
        }
        Ok(out)
    }

    pub(super) fn scalable_translate(
        &mut self,
        mem: &SimMemory,
        pe: &PasidEntry,
        pasid: u32,
        addr: u64,
        access: Access,
    ) -> Result<u64, FaultReason> {
        if pe.pgtt == PGTT_PT {
            return Ok(addr);
        }
        if let Some(out) = self.iotlb_hit(pe.did, Some(pasid), addr, access) {
            return Ok(out);
        }
        let w = self.walker(mem);
        let (kind, leaf) = match pe.pgtt {
            PGTT_SECOND => (
                Kind::Second,
                w.second_stage(pe.slptptr, pe.aw, addr, access, true, pe.slade)?,
            ),
            PGTT_FIRST => (Kind::First, w.first_stage(pe, addr, access, &mut Ok)?),
            PGTT_NESTED => {
                let mut through_second = |gpa: u64| {
                    w.second_stage(pe.slptptr, pe.aw, gpa, Access::Read, true, pe.slade)
                        .map(|l| l.output(gpa))
                };
                let first = w.first_stage(pe, addr, access, &mut through_second)?;
                let gpa = first.output(addr);
                let second = w.second_stage(pe.slptptr, pe.aw, gpa, access, true, pe.slade)?;
                let leaf = Leaf {
                    out: second.output(gpa) & !0xfff,
                    size_log2: 12,
                    read: true,
                    write: first.write && second.write,
                    global: first.global,
                };
                (Kind::Nested, leaf)
            }
            _ => unreachable!("PGTT validated by the PASID-entry walk"),
        };
        self.iotlb_fill(pe.did, Some(pasid), kind, addr, leaf);
        Ok(leaf.output(addr))
    }
}
