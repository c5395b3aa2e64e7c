//! The model's register file: reads and writes of the registers VT-d §10
//! defines, with their side effects (commands, fault recording, queues).

use super::*;

impl State {
    /// The 64-bit register at `off`, if there is one.
    pub(super) fn read64_reg(&self, off: usize) -> Option<u64> {
        let fro = cap_fro(self.cap);
        let iro = ecap_iro(self.ecap);
        Some(match off {
            CAP_REG => self.cap,
            ECAP_REG => self.ecap,
            RTADDR_REG => self.rtaddr,
            CCMD_REG => self.ccmd,
            IQH_REG => self.iqh,
            IQT_REG => self.iqt,
            IQA_REG => self.iqa,
            IQERCD_REG => self.iqercd,
            IRTA_REG => self.irta,
            PQH_REG => self.pqh,
            PQT_REG => self.pqt,
            PQA_REG => self.pqa,
            o if o == iro => self.iva,
            o if o == iro + 8 => self.iotlb_reg,
            o if o >= fro && o < fro + 16 * self.frcd.len() => {
                self.frcd[(o - fro) / 16][(o - fro) % 16 / 8]
            }
            _ => return None,
        })
    }

    pub(super) fn read32_reg(&self, off: usize) -> u32 {
        match off {
            VER_REG => self.ver,
            GCMD_REG => 0,
            GSTS_REG => self.gsts,
            FSTS_REG => self.fsts_value(),
            FECTL_REG => self.fectl,
            ICS_REG => self.ics,
            IECTL_REG => self.iectl,
            PRS_REG => self.prs,
            PECTL_REG => self.pectl,
            o => self.other.get(&o).copied().unwrap_or(0),
        }
    }

    /// A write of `value` to the 64-bit register at `off`; `written` has the bits the
    /// access covered (a 32-bit access writes one half).
    pub(super) fn write64_reg(&mut self, mem: &SimMemory, off: usize, value: u64, written: u64) {
        let high = written >> 63 != 0;
        let fro = cap_fro(self.cap);
        let iro = ecap_iro(self.ecap);
        match off {
            RTADDR_REG => self.rtaddr = value,
            CCMD_REG => {
                if high {
                    self.write_ccmd(value);
                } else {
                    self.ccmd = value;
                }
            }
            IQT_REG => {
                self.iqt = value & mask(18, 4);
                if written & 0xffff_ffff != 0 {
                    self.process_queue(mem);
                }
            }
            IQA_REG => {
                let dw = if ecap_smts(self.ecap) { 1 << 11 } else { 0 };
                self.iqa = value & (!0xfff | dw | 0b111);
            }
            IRTA_REG => self.irta = value,
            PQH_REG => self.pqh = value & mask(18, 5),
            PQT_REG => self.pqt = value & mask(18, 5),
            PQA_REG => self.pqa = value & (!0xfff | 0b111),
            o if o == iro => self.iva = value,
            o if o == iro + 8 => {
                if high {
                    self.write_iotlb_reg(value);
                } else {
                    self.iotlb_reg = value;
                }
            }
            o if o >= fro && o < fro + 16 * self.frcd.len() && (o - fro) % 16 == 8 => {
                let i = (o - fro) / 16;
                if high && value >> 63 != 0 {
                    self.frcd[i][1] &= !(1 << 63);
                    self.fault_serviced();
                }
            }
            _ => {}
        }
    }

    pub(super) fn write32_reg(&mut self, mem: &SimMemory, off: usize, v: u32) {
        match off {
            GCMD_REG => self.write_gcmd(mem, v),
            FSTS_REG => {
                let clear = v & FSTS_RW1C;
                self.fsts &= !clear;
                if clear & FSTS_IQE != 0 {
                    self.iqercd &= !0xf;
                }
                self.fault_serviced();
                if clear & (FSTS_IQE | FSTS_ITE) != 0 {
                    self.process_queue(mem);
                }
            }
            FECTL_REG => write_ctl(&mut self.fectl, v, &mut self.events.fault),
            ICS_REG => {
                self.ics &= !(v & ICS_IWC);
                if self.ics & ICS_IWC == 0 {
                    self.iectl &= !CTL_IP;
                }
            }
            IECTL_REG => write_ctl(&mut self.iectl, v, &mut self.events.invalidation),
            PRS_REG => {
                self.prs &= !(v & (PRS_PPR | PRS_PRO));
                if self.prs == 0 {
                    self.pectl &= !CTL_IP;
                }
            }
            PECTL_REG => write_ctl(&mut self.pectl, v, &mut self.events.page_request),
            VER_REG | GSTS_REG => {}
            o => {
                self.other.insert(o, v);
            }
        }
    }
}
