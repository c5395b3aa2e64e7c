//! The command queue in the model: consuming commands, their effects on
//! the caches and stalled transactions, and errors (SMMUv3 §4, §7.1).

use super::*;

impl State {
    pub(super) fn cmd_error(&mut self, bus: &Bus<'_>, e: CommandError) {
        self.cmdq_err = e as u32;
        self.raise_gerror(bus, GERROR_CMDQ_ERR);
    }

    /// Consumes commands from CMDQ_CONS to CMDQ_PROD while the queue is enabled and no
    /// command error is active.
    pub(super) fn process_cmdq(&mut self, bus: &Bus<'_>) {
        let idr0 = self.cfg.idr[0];
        let features = command::Features {
            s1p: idr0 & IDR0_S1P != 0,
            s2p: idr0 & IDR0_S2P != 0,
            ats: idr0 & IDR0_ATS != 0,
            pri: idr0 & IDR0_PRI != 0,
            stall: self.ids().stall_model() != STALL_MODEL_NONE,
            ril: self.cfg.idr[3] & IDR3_RIL != 0,
            ssidsize: idr1_ssidsize(self.cfg.idr[1]),
        };
        loop {
            if self.cr0ack & CR0_CMDQEN == 0 || (self.gerror ^ self.gerrorn) & GERROR_CMDQ_ERR != 0
            {
                return;
            }
            let n = self.cmdq_log2();
            if queue_empty(self.cmdq.prod, self.cmdq.cons, n) {
                return;
            }
            let at = (self.cmdq.base & Q_BASE_ADDR)
                + u64::from(self.cmdq.cons & ((1 << n) - 1)) * CMD_SIZE;
            let words = match (bus.read64(at), bus.read64(at + 8)) {
                (Some(a), Some(b)) if !self.take_injected(InjectedError::CommandAbort) => [a, b],
                _ => return self.cmd_error(bus, CommandError::Abt),
            };
            if self.take_injected(InjectedError::CommandIllegal) {
                return self.cmd_error(bus, CommandError::Ill);
            }
            let cmd = match command::decode(words, &features) {
                Ok(c) => c,
                Err(e) => return self.cmd_error(bus, e),
            };
            if matches!(cmd, Command::Sync { .. }) && self.atc_timed_out {
                self.atc_timed_out = false;
                return self.cmd_error(bus, CommandError::AtcInvSync);
            }
            self.execute(bus, &cmd);
            self.log.push(cmd);
            self.counts.count(&cmd);
            self.cmdq.cons = advance(self.cmdq.cons, n);
        }
    }

    pub(super) fn invalidate_tlb(&mut self, keep: impl Fn(&TlbEntry) -> bool) {
        self.tlb.retain(keep);
    }

    pub(super) fn execute(&mut self, bus: &Bus<'_>, cmd: &Command) {
        let vm = self.vmid_mask();
        let am = self.asid_mask();
        match *cmd {
            Command::PrefetchConfig { .. } | Command::PrefetchAddr { .. } => {}
            Command::CfgiSte { sid, .. } => {
                self.ste_cache.remove(&sid);
                self.cd_cache.retain(|(s, _), _| *s != sid);
            }
            Command::CfgiSteRange { sid, range } => {
                let span = 1u64 << (range + 1);
                let first = u64::from(sid) & !(span - 1);
                let hit = |s: u32| (first..first + span).contains(&u64::from(s));
                self.ste_cache.retain(|s, _| !hit(*s));
                self.cd_cache.retain(|(s, _), _| !hit(*s));
            }
            Command::CfgiAll => {
                self.ste_cache.clear();
                self.cd_cache.clear();
            }
            Command::CfgiCd { sid, ssid, .. } => {
                self.cd_cache.remove(&(sid, ssid));
            }
            Command::CfgiCdAll { sid } => self.cd_cache.retain(|(s, _), _| *s != sid),
            Command::TlbiNhAll { vmid } => {
                self.invalidate_tlb(|e| e.s2 || e.vmid != vmid & vm);
            }
            Command::TlbiNhAsid { vmid, asid } => self.invalidate_tlb(|e| {
                e.s2 || e.vmid != vmid & vm || e.leaf.global || e.asid != asid & am
            }),
            Command::TlbiNhVa { vmid, asid, addr } => self.invalidate_tlb(|e| {
                e.s2 || e.vmid != vmid & vm
                    || !(e.leaf.global || e.asid == asid & am)
                    || !e.hit_by(&addr)
            }),
            Command::TlbiNhVaa { vmid, addr } => {
                self.invalidate_tlb(|e| e.s2 || e.vmid != vmid & vm || !e.hit_by(&addr))
            }
            Command::TlbiEl2 { .. } => {}
            Command::TlbiS12Vmall { vmid } => self.invalidate_tlb(|e| e.vmid != vmid & vm),
            Command::TlbiS2Ipa { vmid, addr } => {
                self.invalidate_tlb(|e| !e.s2 || e.vmid != vmid & vm || !e.hit_by(&addr))
            }
            Command::TlbiNsnhAll => self.tlb.clear(),
            Command::AtcInv { .. } => {
                if self.take_injected(InjectedError::AtcInvTimeout) {
                    self.atc_timed_out = true;
                }
            }
            Command::PriResp {
                sid,
                ssid,
                prgi,
                resp,
            } => self.pri_responses.push(PriResponse {
                sid,
                ssid,
                prgi,
                resp,
            }),
            Command::Resume { sid, stag, action } => {
                if let Some(i) = self
                    .stalls
                    .iter()
                    .position(|t| t.sid == sid && t.stag == stag)
                {
                    let t = self.stalls.remove(i);
                    self.resume(bus, t, action);
                }
            }
            Command::StallTerm { sid } => {
                let (ended, kept): (Vec<_>, Vec<_>) =
                    self.stalls.drain(..).partition(|t| t.sid == sid);
                self.stalls = kept;
                for t in ended {
                    self.resume(bus, t, ResumeAction::Terminate { abort: true });
                }
            }
            Command::Sync {
                cs,
                msi_data,
                msi_addr,
            } => match cs {
                SyncSignal::None => {}
                SyncSignal::Irq => {
                    self.irqs.cmd_sync += 1;
                    // Like QEMU, the wired line pulses whether or not an MSI is also written.
                    self.lines.cmd_sync.pulse();
                    if self.has(IDR0_MSI) && msi_addr != 0 {
                        bus.mem.write_u32(msi_addr, msi_data);
                        self.irqs.msi_writes += 1;
                    }
                }
                SyncSignal::Sev => self.irqs.sev += 1,
            },
        }
    }

    pub(super) fn resume(&mut self, bus: &Bus<'_>, t: StalledTransaction, action: ResumeAction) {
        let stag = t.stag;
        let outcome = match action {
            ResumeAction::Terminate { abort } => ResumeOutcome::Terminated {
                stag,
                abort: abort || self.has(IDR0_TERM_MODEL),
            },
            ResumeAction::Retry => {
                let result = match &t.data {
                    StalledData::Write(d) => self
                        .dma(bus, t.sid, t.ssid, t.iova, Dma::Write(d))
                        .map(|()| None),
                    StalledData::Read(len) => {
                        let mut buf = alloc::vec![0; *len];
                        self.dma(bus, t.sid, t.ssid, t.iova, Dma::Read(&mut buf))
                            .map(|()| Some(buf))
                    }
                };
                match result {
                    Ok(read) => ResumeOutcome::Completed { stag, read },
                    Err(event) => ResumeOutcome::Faulted { stag, event },
                }
            }
        };
        self.outcomes.push(outcome);
    }
}
