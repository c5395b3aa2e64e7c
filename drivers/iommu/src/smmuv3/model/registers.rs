//! The model's register file: reads and writes of the registers SMMUv3
//! §6.3 defines, with their side effects.

use super::*;

impl State {
    pub(super) fn read32_reg(&mut self, off: usize) -> u32 {
        match off {
            o @ IDR0..=IDR5 => self.cfg.idr[o / 4],
            IIDR => self.cfg.iidr,
            AIDR => self.cfg.aidr,
            CR0 => self.cr0,
            CR0ACK => self.cr0ack,
            CR1 => self.cr1,
            CR2 => self.cr2,
            STATUSR => 0,
            GBPA => self.gbpa,
            IRQ_CTRL => self.irq_ctrl,
            IRQ_CTRLACK => self.irq_ctrlack,
            GERROR => self.gerror,
            GERRORN => self.gerrorn,
            STRTAB_BASE_CFG => self.strtab_base_cfg,
            CMDQ_PROD => self.cmdq.prod,
            CMDQ_CONS => self.cmdq.cons | self.cmdq_err << CMDQ_CONS_ERR_SHIFT,
            EVENTQ_PROD => self.eventq.prod,
            EVENTQ_CONS => self.eventq.cons,
            PRIQ_PROD => self.priq.prod,
            PRIQ_CONS => self.priq.cons,
            o => self.other.get(&o).copied().unwrap_or(0),
        }
    }

    pub(super) fn write32_reg(&mut self, bus: &Bus<'_>, off: usize, v: u32) {
        match off {
            o if o <= AIDR => {}
            CR0 => {
                let mut writable = CR0_SMMUEN | CR0_EVENTQEN | CR0_CMDQEN | CR0_VMW;
                if self.has(IDR0_PRI) {
                    writable |= CR0_PRIQEN;
                }
                if self.has(IDR0_ATS) {
                    writable |= CR0_ATSCHK;
                }
                self.cr0 = v & writable;
                if !self.ignore_cr0 {
                    self.cr0ack = self.cr0;
                    self.process_cmdq(bus);
                }
            }
            CR1 => self.cr1 = v & 0xfff,
            CR2 => self.cr2 = v & 0b111,
            GBPA => {
                if v & GBPA_UPDATE != 0 {
                    self.gbpa = v & GBPA_FIELDS;
                }
            }
            IRQ_CTRL => {
                self.irq_ctrl = v & 0b111;
                self.irq_ctrlack = self.irq_ctrl;
            }
            GERRORN => {
                self.gerrorn = v & GERROR_ALL;
                self.process_cmdq(bus);
            }
            STRTAB_BASE_CFG => self.strtab_base_cfg = v & (0x3f | 0x1f << 6 | 0b11 << 16),
            CMDQ_PROD => {
                self.cmdq.prod = v & ((2 << self.cmdq_log2()) - 1);
                self.process_cmdq(bus);
            }
            CMDQ_CONS => {
                if self.cr0ack & CR0_CMDQEN == 0 {
                    self.cmdq.cons = v & ((2 << self.cmdq_log2()) - 1);
                }
            }
            EVENTQ_PROD => {
                if self.cr0ack & CR0_EVENTQEN == 0 {
                    self.eventq.prod = v & (((2 << self.eventq_log2()) - 1) | Q_OVFLG);
                }
            }
            EVENTQ_CONS => self.eventq.cons = v & (((2 << self.eventq_log2()) - 1) | Q_OVFLG),
            PRIQ_PROD => {
                if self.cr0ack & CR0_PRIQEN == 0 {
                    self.priq.prod = v & (((2 << self.priq_log2()) - 1) | Q_OVFLG);
                }
            }
            PRIQ_CONS => self.priq.cons = v & (((2 << self.priq_log2()) - 1) | Q_OVFLG),
            CR0ACK | STATUSR | IRQ_CTRLACK | GERROR => {}
            o => {
                self.other.insert(o, v);
            }
        }
    }

    pub(super) fn write64_reg(&mut self, off: usize, v: u64) {
        let enabled = |bit| self.cr0ack & bit != 0;
        let (value, ignored) = match off {
            STRTAB_BASE => (v & (1 << 62 | STRTAB_ADDR), enabled(CR0_SMMUEN)),
            CMDQ_BASE => (v & (1 << 62 | mask(51, 0)), enabled(CR0_CMDQEN)),
            EVENTQ_BASE => (v & (1 << 62 | mask(51, 0)), enabled(CR0_EVENTQEN)),
            PRIQ_BASE => (v & (1 << 62 | mask(51, 0)), enabled(CR0_PRIQEN)),
            _ => (v, false),
        };
        if ignored {
            return;
        }
        self.regs64.insert(off, value);
        match off {
            CMDQ_BASE => self.cmdq.base = value,
            EVENTQ_BASE => self.eventq.base = value,
            PRIQ_BASE => self.priq.base = value,
            _ => {}
        }
    }

    pub(super) fn read64_reg(&self, off: usize) -> u64 {
        self.regs64.get(&off).copied().unwrap_or(0)
    }
}
