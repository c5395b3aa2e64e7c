//! Port I/O a guest attempts (x86: the IOIO intercept, AMD APM Vol. 2
//! §15.10.2). vsva emulates no port: an IN reads all ones, an OUT is
//! dropped. The string forms (INS, OUTS, with or without REP) would move
//! data between the port and memory at ES:rDI / DS:rSI through the guest's
//! page tables, advancing rDI / rSI and counting rCX down; instead of half
//! doing that, vsva raises #GP(0) for every string form, so a guest never
//! sees a register or memory result the architecture does not define.

/// What to do with one intercepted port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortIo {
    /// IN of `bytes` (1, 2 or 4): RAX gets all ones as [`in_result`] says.
    In { bytes: u8 },
    /// OUT: dropped.
    Out,
    /// INS or OUTS (REP or not): #GP(0), RIP not advanced.
    StringFault,
}

/// EXITINFO1 bits (§15.10.2): TYPE (1 = IN), STR, REP, SZ8 / SZ16 / SZ32.
const TYPE_IN: u64 = 1 << 0;
const STR: u64 = 1 << 2;
const REP: u64 = 1 << 3;
const SZ8: u64 = 1 << 4;
const SZ16: u64 = 1 << 5;

/// Decodes an IOIO intercept's EXITINFO1.
pub const fn decode(info1: u64) -> PortIo {
    if info1 & (STR | REP) != 0 {
        PortIo::StringFault
    } else if info1 & TYPE_IN == 0 {
        PortIo::Out
    } else if info1 & SZ8 != 0 {
        PortIo::In { bytes: 1 }
    } else if info1 & SZ16 != 0 {
        PortIo::In { bytes: 2 }
    } else {
        PortIo::In { bytes: 4 }
    }
}

/// RAX after an IN of `bytes` from a port nothing answers: 8- and 16-bit
/// INs keep RAX's other bits, a 32-bit IN zero-extends into RAX (SDM Vol.
/// 2A "IN").
pub const fn in_result(rax: u64, bytes: u8) -> u64 {
    match bytes {
        1 => rax | 0xff,
        2 => rax | 0xffff,
        _ => 0xffff_ffff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ins_and_outs_by_size() {
        // Port 0x60 in bits 31:16; the address-size bits do not matter.
        let port = 0x60 << 16 | 1 << 8;
        assert_eq!(decode(port | TYPE_IN | SZ8), PortIo::In { bytes: 1 });
        assert_eq!(decode(port | TYPE_IN | SZ16), PortIo::In { bytes: 2 });
        assert_eq!(decode(port | TYPE_IN | 1 << 6), PortIo::In { bytes: 4 });
        assert_eq!(decode(port | SZ8), PortIo::Out);
        assert_eq!(in_result(0x1234_5678_9abc_def0, 1), 0x1234_5678_9abc_deff);
        assert_eq!(in_result(0x1234_5678_9abc_def0, 2), 0x1234_5678_9abc_ffff);
        assert_eq!(in_result(0x1234_5678_9abc_def0, 4), 0xffff_ffff);
    }

    #[test]
    fn every_string_form_faults_instead_of_a_wrong_result() {
        for info1 in [
            TYPE_IN | STR | SZ8,
            TYPE_IN | STR | REP | SZ16,
            STR | SZ8,
            STR | REP | 1 << 6,
            // REP without STR is not a form the CPU reports; refused too.
            TYPE_IN | REP | SZ8,
        ] {
            assert_eq!(decode(info1), PortIo::StringFault, "{info1:#x}");
        }
    }
}
