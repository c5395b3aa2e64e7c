//! Control, interrupt and global error bits: SMMU_CR0/CR0ACK, SMMU_CR2, SMMU_STATUSR,
//! SMMU_GBPA, SMMU_IRQ_CTRL/IRQ_CTRLACK, SMMU_GERROR/GERRORN (§6.3.9–§6.3.19).

use bitflags::bitflags;

bitflags! {
    /// SMMU_CR0 (§6.3.9); SMMU_CR0ACK (§6.3.10) has the same layout and reports which
    /// of the written values have taken effect.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Cr0: u32 {
        /// Bit 0: SMMU enable — translate (or abort) incoming traffic through the stream
        /// table; when clear, SMMU_GBPA decides.
        const SMMUEN = 1 << 0;
        /// Bit 1: PRI queue enable.
        const PRIQEN = 1 << 1;
        /// Bit 2: event queue enable.
        const EVENTQEN = 1 << 2;
        /// Bit 3: command queue enable.
        const CMDQEN = 1 << 3;
        /// Bit 4: ATS check — ATS-translated traffic is checked against STE.EATS.
        const ATSCHK = 1 << 4;
        /// Bits 8:6: VMID wildcard for TLB invalidation, valid when SMMU_IDR0.VMW; see
        /// [`Cr0::vmw`].
        const VMW = 0b111 << 6;
        /// Bit 10: DPT walk enable (SMMUv3.3, SMMU_IDR3.DPT).
        const DPT_WALK_EN = 1 << 10;
    }
}

impl Cr0 {
    /// VMW, bits 8:6: the number of low VMID bits ignored by TLB invalidation by VMID
    /// (§6.3.9).
    pub const fn vmw(self) -> u8 {
        ((self.bits() >> 6) & 0b111) as u8
    }

    /// This value with VMW replaced by `vmw` (only its low 3 bits are used) (§6.3.9).
    pub const fn with_vmw(self, vmw: u8) -> Self {
        Self::from_bits_retain((self.bits() & !Self::VMW.bits()) | ((vmw as u32 & 0b111) << 6))
    }
}

bitflags! {
    /// SMMU_CR2 (§6.3.12).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Cr2: u32 {
        /// Bit 0: EL2-E2H translation regime enable (valid when SMMU_IDR0.HYP).
        const E2H = 1 << 0;
        /// Bit 1: record C_BAD_STREAMID events for out-of-range StreamIDs.
        const RECINVSID = 1 << 1;
        /// Bit 2: private TLB maintenance — ignore broadcast TLB maintenance (with BTM).
        const PTM = 1 << 2;
        /// Bit 3: record configuration errors for ATS translation requests (SMMUv3.3).
        const REC_CFG_ATS = 1 << 3;
    }
}

bitflags! {
    /// SMMU_STATUSR (§6.3.13).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Statusr: u32 {
        /// Bit 0: the SMMU is dormant (valid when SMMU_IDR0.DORMHINT).
        const DORMANT = 1 << 0;
    }
}

bitflags! {
    /// SMMU_GBPA, global bypass attributes used while SMMU_CR0.SMMUEN is clear
    /// (§6.3.14). Fields are written together with UPDATE, which reads as 1 until the
    /// update has taken effect.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Gbpa: u32 {
        /// Bits 3:0: memory attribute override value.
        const MEMATTR = 0xF;
        /// Bit 4: memory type override enable.
        const MTCFG = 1 << 4;
        /// Bits 11:8: allocation hints override.
        const ALLOCCFG = 0xF << 8;
        /// Bits 13:12: shareability override.
        const SHCFG = 0b11 << 12;
        /// Bits 17:16: privilege override.
        const PRIVCFG = 0b11 << 16;
        /// Bits 19:18: instruction/data override.
        const INSTCFG = 0b11 << 18;
        /// Bit 20: abort all incoming transactions (instead of bypassing them).
        const ABORT = 1 << 20;
        /// Bit 31: write 1 with the new fields; reads 1 until the update completes.
        const UPDATE = 1 << 31;
    }
}

bitflags! {
    /// SMMU_IRQ_CTRL (§6.3.16); SMMU_IRQ_CTRLACK (§6.3.17) has the same layout.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct IrqCtrl: u32 {
        /// Bit 0: global error interrupt enable.
        const GERROR_IRQEN = 1 << 0;
        /// Bit 1: PRI queue interrupt enable.
        const PRIQ_IRQEN = 1 << 1;
        /// Bit 2: event queue interrupt enable.
        const EVENTQ_IRQEN = 1 << 2;
    }
}

bitflags! {
    /// SMMU_GERROR (§6.3.18) and SMMU_GERRORN (§6.3.19). An error is active while its
    /// GERROR bit differs from the GERRORN bit ([`Gerror::active`]); software
    /// acknowledges it by toggling the GERRORN bit ([`Gerror::acknowledge`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Gerror: u32 {
        /// Bit 0: command queue error; SMMU_CMDQ_CONS.ERR says which.
        const CMDQ_ERR = 1 << 0;
        /// Bit 2: event queue write aborted.
        const EVENTQ_ABT_ERR = 1 << 2;
        /// Bit 3: PRI queue write aborted.
        const PRIQ_ABT_ERR = 1 << 3;
        /// Bit 4: command queue (CMD_SYNC) MSI write aborted.
        const MSI_CMDQ_ABT_ERR = 1 << 4;
        /// Bit 5: event queue MSI write aborted.
        const MSI_EVENTQ_ABT_ERR = 1 << 5;
        /// Bit 6: PRI queue MSI write aborted.
        const MSI_PRIQ_ABT_ERR = 1 << 6;
        /// Bit 7: GERROR MSI write aborted.
        const MSI_GERROR_ABT_ERR = 1 << 7;
        /// Bit 8: service failure mode — the SMMU stopped.
        const SFM_ERR = 1 << 8;
        /// Bit 9: command queue control page error (ECMDQ, SMMUv3.3).
        const CMDQP_ERR = 1 << 9;
        /// Bit 10: device permission table error (DPT, SMMUv3.3).
        const DPT_ERR = 1 << 10;
    }
}

impl Gerror {
    /// The errors that are active: GERROR bits that differ from GERRORN (§6.3.18).
    pub const fn active(gerror: u32, gerrorn: u32) -> Gerror {
        Gerror::from_bits_truncate(gerror ^ gerrorn)
    }

    /// The GERRORN value that acknowledges `handled` (toggles those bits of the current
    /// GERRORN); bits not in `handled` are written back unchanged (§6.3.19).
    pub const fn acknowledge(gerrorn: u32, handled: Gerror) -> u32 {
        gerrorn ^ handled.bits()
    }
}
