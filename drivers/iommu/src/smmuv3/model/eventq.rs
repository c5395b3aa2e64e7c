//! Interrupts, global errors and the event queue in the model (SMMUv3 §7.1,
//! §7.2, §7.5): MSIs and wired lines, GERROR, event records and their overflow.

use super::*;

impl State {
    /// Sends the MSI configured by the IRQ_CFG0 register at `cfg0` (ADDR 51:2) and the
    /// IRQ_CFG1 register at `cfg1` (the data), where MSIs are supported and ADDR != 0.
    pub(super) fn msi(&mut self, bus: &Bus<'_>, cfg0: usize, cfg1: usize) {
        if !self.has(IDR0_MSI) {
            return;
        }
        let addr = self.regs64.get(&cfg0).copied().unwrap_or(0) & mask(51, 2);
        if addr != 0 {
            let data = self.other.get(&cfg1).copied().unwrap_or(0);
            bus.mem.write_u32(addr, data);
            self.irqs.msi_writes += 1;
        }
    }

    pub(super) fn raise_gerror(&mut self, bus: &Bus<'_>, bit: u32) {
        if (self.gerror ^ self.gerrorn) & bit != 0 {
            return;
        }
        self.gerror ^= bit;
        if self.irq_ctrlack & IRQ_CTRL_GERROR_IRQEN != 0 {
            self.irqs.gerror += 1;
            self.lines.gerror.pulse();
            self.msi(bus, GERROR_IRQ_CFG0, GERROR_IRQ_CFG1);
        }
    }

    /// Writes `ev`'s record at EVENTQ_PROD; false when the queue is disabled or full (then
    /// OVFLG toggles unless an overflow is already unacknowledged).
    pub(super) fn push_event(&mut self, bus: &Bus<'_>, ev: &ModelEvent) -> bool {
        if self.cr0ack & CR0_EVENTQEN == 0 {
            return false;
        }
        let n = self.eventq_log2();
        let q = self.eventq;
        if queue_full(q.prod, q.cons, n) {
            if (q.prod ^ q.cons) & Q_OVFLG == 0 {
                self.eventq.prod ^= Q_OVFLG;
            }
            return false;
        }
        let at = (q.base & Q_BASE_ADDR) + u64::from(q.prod & ((1 << n) - 1)) * EVENT_SIZE;
        // §7.2: a record whose write aborts is lost, PROD does not move, and
        // GERROR.EVENTQ_ABT_ERR is activated.
        if bus.aborts.iter().any(|r| r.contains(&at)) {
            self.raise_gerror(bus, GERROR_EVENTQ_ABT_ERR);
            return false;
        }
        for (i, w) in ev.record().into_iter().enumerate() {
            bus.mem.write64(at + 8 * i as u64, w);
        }
        self.eventq.prod = advance(q.prod, n);
        if self.irq_ctrlack & IRQ_CTRL_EVENTQ_IRQEN != 0 {
            self.irqs.eventq += 1;
            self.lines.eventq.pulse();
            self.msi(bus, EVENTQ_IRQ_CFG0, EVENTQ_IRQ_CFG1);
        }
        true
    }

    /// Turns a stopped translation into the event the DMA reports, recording it (and
    /// stalling the transaction when `may_stall`) as the configuration asks.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn report(
        &mut self,
        bus: &Bus<'_>,
        stop: Stop,
        sid: u32,
        ssid: Option<u32>,
        addr: u64,
        access: Access,
        may_stall: bool,
    ) -> ModelEvent {
        let mut ev = ModelEvent {
            event: None,
            sid,
            ssid,
            addr,
            access,
            s2: false,
            class: Class::In,
            ipa: 0,
            fetch_addr: 0,
            stag: None,
            recorded: false,
        };
        if let Stop::Fault { f, record, stall } = stop {
            ev.event = Some(f.event);
            ev.s2 = f.s2;
            ev.class = f.class;
            ev.ipa = f.ipa;
            ev.fetch_addr = f.fetch;
            if stall && may_stall {
                ev.stag = Some(self.next_stag);
                ev.recorded = self.push_event(bus, &ev);
                if ev.recorded {
                    self.next_stag = self.next_stag.wrapping_add(1);
                } else {
                    // A stall that cannot be reported would never be resumed: terminate.
                    ev.stag = None;
                }
            } else if record {
                ev.recorded = self.push_event(bus, &ev);
            }
        }
        self.faults.push(ev);
        ev
    }
}
