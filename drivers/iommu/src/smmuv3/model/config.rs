//! Configuration lookup in the model: stream table entries and context
//! descriptors, linear and 2-level (SMMUv3 §3.3, §5).

use super::*;

impl State {
    /// The STE of `sid`, from the cache or a stream table walk that fills it.
    pub(super) fn ste(&mut self, bus: &Bus<'_>, sid: u32) -> Result<Ste, WalkFault> {
        if let Some(ste) = self.ste_cache.get(&sid) {
            return Ok(*ste);
        }
        let bad_sid = WalkFault::config(EventType::CBadStreamid);
        let cfg = u64::from(self.strtab_base_cfg);
        let literal_log2 = field(cfg, 5, 0) as u32;
        let log2size = literal_log2.min(idr1_sidsize(self.cfg.idr[1]));
        if u64::from(sid) >> log2size != 0 {
            return Err(bad_sid);
        }
        let base = self.regs64.get(&STRTAB_BASE).copied().unwrap_or(0) & STRTAB_ADDR;
        let two_level = field(cfg, 17, 16) == 1 && self.cfg.idr[0] & IDR0_ST_LEVEL_2LVL != 0;
        let ste_addr = if two_level {
            let split = (field(cfg, 10, 6) as u32).min(log2size);
            // The base is aligned to the larger of 64 bytes and the L1 table size.
            let l1_bits = literal_log2.saturating_sub(split) + 3;
            let base = base & !((1u64 << l1_bits.max(6)) - 1);
            let l1_addr = base + 8 * u64::from(sid >> split);
            let l1 = bus
                .read64(l1_addr)
                .ok_or(WalkFault::fetch(EventType::FSteFetch, l1_addr))?;
            // L1STD (§5.1): Span 4:0, L2Ptr 51:6; the L2 table holds 2^(Span-1) STEs.
            let span = field(l1, 4, 0) as u32;
            let index = sid & ((1 << split) - 1);
            if span == 0 || span > split + 1 || index >> (span - 1) != 0 {
                return Err(bad_sid);
            }
            (l1 & mask(51, 6)) + 64 * u64::from(index)
        } else {
            let base = base & !((64u64 << literal_log2.min(58)) - 1);
            base + 64 * u64::from(sid)
        };
        let mut w = [0u64; 8];
        for (i, word) in w.iter_mut().enumerate() {
            *word = bus
                .read64(ste_addr + 8 * i as u64)
                .ok_or(WalkFault::fetch(EventType::FSteFetch, ste_addr))?;
        }
        let ste =
            decode_ste(&w, &self.ids()).map_err(|()| WalkFault::config(EventType::CBadSte))?;
        self.ste_cache.insert(sid, ste);
        Ok(ste)
    }

    /// The CD at index `index` of `ste`'s CD table, from the cache or a fetch that fills
    /// it; through stage 2 when the STE is nested (Class CD faults).
    pub(super) fn cd(
        &mut self,
        bus: &Bus<'_>,
        sid: u32,
        ste: &Ste,
        index: u32,
        vmid: u16,
    ) -> Result<Cd, WalkFault> {
        if let Some(cd) = self.cd_cache.get(&(sid, index)) {
            return Ok(*cd);
        }
        let locate = |s: &mut Self, addr: u64| match ste.s2 {
            Some(c) => s.stage2(bus, &c, vmid, addr, Access::Read, Class::Cd),
            None => Ok(addr),
        };
        let ptr = ste.s1_context_ptr;
        let cd_addr = if ste.s1cdmax == 0 || ste.s1fmt == 0 {
            ptr + 64 * u64::from(index)
        } else {
            // 2-level CD table (§5.3): 4K leaves hold 64 CDs, 64K leaves 1024.
            let leaf_bits = if ste.s1fmt == 1 { 6 } else { 10 };
            let l1_addr = ptr + 8 * u64::from(index >> leaf_bits);
            let pa = locate(self, l1_addr)?;
            let l1 = bus
                .read64(pa)
                .ok_or(WalkFault::fetch(EventType::FCdFetch, l1_addr))?;
            // L1CD: V 0, L2Ptr 51:12.
            if !bit(l1, 0) {
                return Err(WalkFault::config(EventType::CBadSubstreamid));
            }
            (l1 & mask(51, 12)) + 64 * u64::from(index & ((1 << leaf_bits) - 1))
        };
        let pa = locate(self, cd_addr)?;
        let mut w = [0u64; 8];
        for (i, word) in w.iter_mut().enumerate() {
            *word = bus
                .read64(pa + 8 * i as u64)
                .ok_or(WalkFault::fetch(EventType::FCdFetch, cd_addr))?;
        }
        let cd = decode_cd(&w, &self.ids()).map_err(|()| WalkFault::config(EventType::CBadCd))?;
        self.cd_cache.insert((sid, index), cd);
        Ok(cd)
    }
}
