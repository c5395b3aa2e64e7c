//! GCMD_REG and GSTS_REG (§11.4.4.1, §11.4.4.2).

use bitflags::bitflags;

bitflags! {
    /// Global Command Register bits (§11.4.4.1). GCMD is write-only; compute the value to
    /// write with [`Gcmd::for_set`] or [`Gcmd::for_clear`], never from a previous write.
    ///
    /// Persistent bits ([`Gcmd::PERSISTENT`]) are enables whose written value stays in
    /// force: every write must repeat the ones that are on. One-shot bits
    /// ([`Gcmd::ONE_SHOT`]) start an operation each time they are written as 1 and must be
    /// written as 0 otherwise.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Gcmd: u32 {
        /// Bit 31, persistent: translation enable; status in GSTS.TES.
        const TE = 1 << 31;
        /// Bit 30, one-shot: set root table pointer from RTADDR_REG; status in GSTS.RTPS.
        const SRTP = 1 << 30;
        /// Bit 29, one-shot: set fault log pointer from AFLOG_REG; status in GSTS.FLS.
        const SFL = 1 << 29;
        /// Bit 28, persistent: enable advanced fault logging; status in GSTS.AFLS.
        const EAFL = 1 << 28;
        /// Bit 27, one-shot: write buffer flush; status in GSTS.WBFS (clear when done).
        const WBF = 1 << 27;
        /// Bit 26, persistent: queued invalidation enable; status in GSTS.QIES.
        const QIE = 1 << 26;
        /// Bit 25, persistent: interrupt remapping enable; status in GSTS.IRES.
        const IRE = 1 << 25;
        /// Bit 24, one-shot: set interrupt remap table pointer from IRTA_REG; status in
        /// GSTS.IRTPS.
        const SIRTP = 1 << 24;
        /// Bit 23, persistent: compatibility format interrupts pass through; status in
        /// GSTS.CFIS.
        const CFI = 1 << 23;
    }
}

bitflags! {
    /// Global Status Register bits (§11.4.4.2). Each bit reports the command bit at the
    /// same position in [`Gcmd`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Gsts: u32 {
        /// Bit 31: translation enabled.
        const TES = 1 << 31;
        /// Bit 30: root table pointer set (cleared on SRTP, set on completion).
        const RTPS = 1 << 30;
        /// Bit 29: fault log pointer set (cleared on SFL, set on completion).
        const FLS = 1 << 29;
        /// Bit 28: advanced fault logging enabled.
        const AFLS = 1 << 28;
        /// Bit 27: write buffer flush in progress (set on WBF, cleared on completion).
        const WBFS = 1 << 27;
        /// Bit 26: queued invalidation enabled.
        const QIES = 1 << 26;
        /// Bit 25: interrupt remapping enabled.
        const IRES = 1 << 25;
        /// Bit 24: interrupt remap table pointer set (cleared on SIRTP, set on completion).
        const IRTPS = 1 << 24;
        /// Bit 23: compatibility format interrupts pass through.
        const CFIS = 1 << 23;
    }
}

/// One GCMD write and the GSTS condition that reports its completion (§11.4.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GlobalCommand {
    /// The value to write to GCMD_REG.
    pub value: Gcmd,
    /// The GSTS bit that reports the command.
    pub status: Gsts,
    /// Whether completion is that bit being set (`true`) or clear (`false`).
    pub status_set: bool,
}

impl GlobalCommand {
    /// Whether `gsts`, read after the write, shows the command as completed.
    pub const fn is_complete(&self, gsts: Gsts) -> bool {
        gsts.contains(self.status) == self.status_set
    }
}

impl Gcmd {
    /// The enables that every GCMD write must carry over from GSTS.
    pub const PERSISTENT: Gcmd = Gcmd::TE
        .union(Gcmd::EAFL)
        .union(Gcmd::QIE)
        .union(Gcmd::IRE)
        .union(Gcmd::CFI);

    /// The operations that a GCMD write starts when written as 1.
    pub const ONE_SHOT: Gcmd = Gcmd::SRTP
        .union(Gcmd::SFL)
        .union(Gcmd::WBF)
        .union(Gcmd::SIRTP);

    /// The mask §11.4.4.1 applies to GSTS before a write: it clears the one-shot bits and
    /// keeps the persistent enables (and the reserved low bits).
    pub const STATUS_MASK: u32 = 0x96FF_FFFF;

    /// The GCMD value that keeps every persistent enable as `gsts` reports it and starts
    /// nothing: GSTS & 0x96FFFFFF, restricted to defined bits (§11.4.4.1).
    pub const fn preserved(gsts: Gsts) -> Gcmd {
        Gcmd::from_bits_truncate(gsts.bits() & Self::STATUS_MASK).intersection(Self::PERSISTENT)
    }

    /// The GSTS bit that reports this single command bit.
    const fn status_of(bit: Gcmd) -> Gsts {
        Gsts::from_bits_truncate(bit.bits())
    }

    /// The write that sets one command bit, given the current GSTS (§11.4.4.1): the
    /// persistent enables from `gsts` plus `bit`. For a persistent bit this enables it; for
    /// a one-shot bit this starts the operation.
    ///
    /// Returns `None` unless `bit` is exactly one defined bit: the spec requires one
    /// modification per write.
    pub const fn for_set(gsts: Gsts, bit: Gcmd) -> Option<GlobalCommand> {
        if bit.bits().count_ones() != 1 {
            return None;
        }
        let status = Self::status_of(bit);
        // WBFS is set while the flush runs and cleared when it is done; every other status
        // bit is set once the command has taken effect.
        let status_set = !bit.contains(Gcmd::WBF);
        Some(GlobalCommand {
            value: Self::preserved(gsts).union(bit),
            status,
            status_set,
        })
    }

    /// The write that clears one persistent enable, given the current GSTS (§11.4.4.1):
    /// the persistent enables from `gsts` without `bit`.
    ///
    /// Returns `None` unless `bit` is exactly one persistent bit: one-shot bits have
    /// nothing to clear.
    pub const fn for_clear(gsts: Gsts, bit: Gcmd) -> Option<GlobalCommand> {
        if bit.bits().count_ones() != 1 || !Self::PERSISTENT.contains(bit) {
            return None;
        }
        Some(GlobalCommand {
            value: Self::preserved(gsts).difference(bit),
            status: Self::status_of(bit),
            status_set: false,
        })
    }
}
