//! Fault, protected-memory, invalidation-event and page-request status/control bits
//! (§11.4.7, §11.4.9, §11.4.10, §11.4.12).

use bitflags::bitflags;

bitflags! {
    /// Fault Status Register (§11.4.7.1). Read with [`Fsts::from_bits_retain`] so that the
    /// FRI field survives; clear the RW1C bits by writing back exactly those to clear
    /// ([`Fsts::RW1C`]).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Fsts: u32 {
        /// Bit 0, RW1C: primary fault overflow — a fault arrived while all fault recording
        /// registers were full.
        const PFO = 1 << 0;
        /// Bit 1, RO: primary pending fault — at least one fault recording register has
        /// F set.
        const PPF = 1 << 1;
        /// Bit 2, RW1C: advanced fault overflow (advanced fault logging).
        const AFO = 1 << 2;
        /// Bit 3, RW1C: advanced pending fault (advanced fault logging).
        const APF = 1 << 3;
        /// Bit 4, RW1C: invalidation queue error; IQH points at the bad descriptor.
        const IQE = 1 << 4;
        /// Bit 5, RW1C: invalidation completion error (device-TLB invalidation response).
        const ICE = 1 << 5;
        /// Bit 6, RW1C: invalidation time-out error (device-TLB invalidation).
        const ITE = 1 << 6;
        /// Bits 15:8, RO: fault record index, valid when PPF; see [`Fsts::fri`].
        const FRI = 0xFF << 8;
    }
}

impl Fsts {
    /// The write-1-to-clear status bits.
    pub const RW1C: Fsts = Fsts::PFO
        .union(Fsts::AFO)
        .union(Fsts::APF)
        .union(Fsts::IQE)
        .union(Fsts::ICE)
        .union(Fsts::ITE);

    /// FRI, bits 15:8: index of the first fault recording register with a pending fault;
    /// valid when PPF (§11.4.7.1).
    pub const fn fri(self) -> u8 {
        (self.bits() >> 8) as u8
    }
}

bitflags! {
    /// Fault Event Control Register (§11.4.7.2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Fectl: u32 {
        /// Bit 31, RW: interrupt mask — no fault event interrupt while set.
        const IM = 1 << 31;
        /// Bit 30, RO: interrupt pending — an event was held back by IM.
        const IP = 1 << 30;
    }
}

bitflags! {
    /// Protected Memory Enable Register (§11.4.9.1).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Pmen: u32 {
        /// Bit 31, RW: enable protected memory regions.
        const EPM = 1 << 31;
        /// Bit 0, RO: protected region status.
        const PRS = 1 << 0;
    }
}

bitflags! {
    /// Invalidation Completion Status Register (§11.4.10.4).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Ics: u32 {
        /// Bit 0, RW1C: invalidation wait descriptor complete (a wait descriptor with IF
        /// set completed).
        const IWC = 1 << 0;
    }
}

bitflags! {
    /// Invalidation Event Control Register (§11.4.10.5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Iectl: u32 {
        /// Bit 31, RW: interrupt mask.
        const IM = 1 << 31;
        /// Bit 30, RO: interrupt pending.
        const IP = 1 << 30;
    }
}

bitflags! {
    /// Page Request Status Register (§11.4.12.4).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Prs: u32 {
        /// Bit 0, RW1C: pending page request — the page request queue is not empty.
        const PPR = 1 << 0;
        /// Bit 1, RW1C: page request overflow — a request was dropped because the queue
        /// was full.
        const PRO = 1 << 1;
    }
}

bitflags! {
    /// Page Request Event Control Register (§11.4.12.5).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Pectl: u32 {
        /// Bit 31, RW: interrupt mask.
        const IM = 1 << 31;
        /// Bit 30, RO: interrupt pending.
        const IP = 1 << 30;
    }
}
