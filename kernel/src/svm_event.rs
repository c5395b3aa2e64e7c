//! x86 (SVM): an event whose delivery an exit interrupted. When delivering
//! an interrupt or exception to the guest causes a #VMEXIT (a nested page
//! fault on the guest's IDT or stack, an intercepted exception), the event
//! is not delivered: EXITINTINFO holds it (AMD APM Vol. 2 §15.7.2), and
//! unless the hypervisor delivers it again on the next VMRUN it is lost.

/// EXITINTINFO / EVENTINJ: vector 7:0, type 10:8, error code valid 11,
/// valid 31, error code 63:32 (§15.20).
const VALID: u64 = 1 << 31;
const TYPE_SHIFT: u32 = 8;
const TYPE_INTR: u64 = 0;
const TYPE_NMI: u64 = 2;
const TYPE_EXCEPTION: u64 = 3;
const TYPE_SOFT_INT: u64 = 4;
/// #BP and #OF, raised by INT3 / INTO: software exceptions.
const VECTOR_BP: u8 = 3;
const VECTOR_OF: u8 = 4;

/// What to do with an interrupted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// Nothing was being delivered, or re-executing the instruction raises
    /// it again (INT n, INT3, INTO: RIP still points at it).
    Nothing,
    /// A virtual interrupt from V_IRQ: queue its vector again.
    Interrupt(u8),
    /// An NMI or exception: inject this EVENTINJ value (same format).
    Inject(u64),
}

/// Decodes EXITINTINFO.
pub const fn requeue(exitintinfo: u64) -> Requeue {
    if exitintinfo & VALID == 0 {
        return Requeue::Nothing;
    }
    let vector = exitintinfo as u8;
    match (exitintinfo >> TYPE_SHIFT) & 7 {
        TYPE_INTR => Requeue::Interrupt(vector),
        TYPE_NMI => Requeue::Inject(exitintinfo),
        TYPE_EXCEPTION if vector != VECTOR_BP && vector != VECTOR_OF => {
            Requeue::Inject(exitintinfo)
        }
        TYPE_EXCEPTION | TYPE_SOFT_INT => Requeue::Nothing,
        // Reserved types: nothing the guest asked for.
        _ => Requeue::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_interrupts_and_exceptions_are_delivered_again() {
        assert_eq!(requeue(0), Requeue::Nothing);
        // Not valid: ignored whatever else it holds.
        assert_eq!(requeue(0x30e), Requeue::Nothing);
        assert_eq!(requeue(VALID | 40), Requeue::Interrupt(40));
        let pf = VALID | 1 << 11 | 3 << 8 | 14 | 0x6 << 32;
        assert_eq!(requeue(pf), Requeue::Inject(pf));
        let nmi = VALID | 2 << 8 | 2;
        assert_eq!(requeue(nmi), Requeue::Inject(nmi));
    }

    #[test]
    fn software_raised_events_are_left_to_the_instruction() {
        assert_eq!(requeue(VALID | 4 << 8 | 0x80), Requeue::Nothing);
        assert_eq!(requeue(VALID | 3 << 8 | 3), Requeue::Nothing);
        assert_eq!(requeue(VALID | 3 << 8 | 4), Requeue::Nothing);
    }
}
