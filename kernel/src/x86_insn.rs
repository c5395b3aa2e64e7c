//! Decoding the x86-64 instructions a guest uses for memory-mapped I/O, for
//! emulating them after a nested page fault: AMD SVM on QEMU has no decode
//! assists, so vsva reads the instruction at the guest's RIP itself.
//!
//! Supported: `MOV` between a general register and memory (88, 89, 8A, 8B),
//! `MOV` of an immediate to memory (C6 /0, C7 /0) and `MOVZX` from memory
//! (0F B6, 0F B7), with the operand-size (66), segment and REX prefixes, any
//! ModRM/SIB addressing form (Intel SDM Vol. 2, §2.1, Tables 2-2 and 2-3).
//! The address itself is not needed (the fault gives the guest-physical
//! address); only the instruction's length, size, direction and register.
#![deny(unsafe_code)]

/// What the instruction does with the memory operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load into register `reg` (0 = RAX .. 15 = R15). `extend`: how the
    /// loaded value lands in the register.
    Load { reg: u8, extend: Extend },
    /// A store of register `reg`; `high_byte`: AH/CH/DH/BH (8-bit operand,
    /// no REX, reg 4..=7), i.e. bits 15:8 of register `reg - 4`.
    Store { reg: u8, high_byte: bool },
    /// A store of an immediate.
    StoreImmediate(u64),
}

/// How a loaded value is written to its register (SDM Vol. 1 §3.4.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extend {
    /// 32-bit destination: zero-extended to 64 bits (also MOVZX into r32/r64).
    Zero,
    /// 8- or 16-bit destination: the other bits are kept.
    Merge,
    /// 8-bit load into AH/CH/DH/BH: bits 15:8 of register `reg - 4`.
    HighByte,
    /// MOVZX into a 16-bit register: bits 15:0 take the zero-extended
    /// value, bits 63:16 are kept.
    Merge16,
}

/// A decoded MMIO instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// Bytes the instruction takes.
    pub len: u8,
    /// Bytes of memory accessed: 1, 2, 4 or 8.
    pub size: u8,
    pub access: Access,
}

/// Why an instruction was not emulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the instruction needs.
    Truncated,
    /// An opcode or prefix this decoder does not emulate.
    Unsupported(u8),
    /// ModRM names a register, not memory (cannot fault on memory).
    NotMemory,
}

fn byte(bytes: &[u8], at: usize) -> Result<u8, DecodeError> {
    bytes.get(at).copied().ok_or(DecodeError::Truncated)
}

/// Most bytes an instruction may take (SDM Vol. 2 §2.3.11).
const MAX_LEN: usize = 15;

/// The prefixes before an opcode (SDM Vol. 2 §2.1.1, §2.2.1).
struct Prefixes {
    /// Bytes they take.
    len: usize,
    /// Operand-size override (66).
    operand16: bool,
    /// A LOCK, REP/REPNE or address-size prefix (F0, F2, F3, 67): the first.
    other: Option<u8>,
    /// The REX prefix right before the opcode, or 0.
    rex: u8,
}

/// Scans legacy and REX prefixes (the guests vsva runs are in 64-bit mode).
fn prefixes(bytes: &[u8]) -> Result<Prefixes, DecodeError> {
    let mut p = Prefixes {
        len: 0,
        operand16: false,
        other: None,
        rex: 0,
    };
    loop {
        let b = byte(bytes, p.len)?;
        match b {
            // REX counts only right before the opcode: one followed by a
            // legacy prefix is ignored (SDM Vol. 2 §2.2.1).
            0x40..=0x4f => p.rex = b,
            0x66 => (p.operand16, p.rex) = (true, 0),
            // Segment overrides (ignored in 64-bit mode but for FS and GS,
            // which do not change the length).
            0x26 | 0x2e | 0x36 | 0x3e | 0x64 | 0x65 => p.rex = 0,
            0xf0 | 0xf2 | 0xf3 | 0x67 => {
                p.other.get_or_insert(b);
                p.rex = 0;
            }
            _ => break,
        }
        p.len += 1;
        if p.len >= MAX_LEN {
            return Err(DecodeError::Truncated);
        }
    }
    Ok(p)
}

/// The length of the instruction at the start of `bytes` if it is `opcode`
/// after any prefixes, within the 15-byte limit; `None` when it is not (or
/// is cut short). For the exits whose instruction has a fixed encoding but
/// whose length SVM without NRIP save does not give: a guest may prefix it
/// (WBNOINVD is `F3 0F 09`, WBINVD with a REP prefix; `2E F4` is HLT).
pub fn prefixed_length(bytes: &[u8], opcode: &[u8]) -> Option<u8> {
    let p = prefixes(bytes).ok()?;
    let end = p.len.checked_add(opcode.len())?;
    (end <= MAX_LEN && bytes.get(p.len..end)? == opcode).then_some(end as u8)
}

/// Decodes the instruction at the start of `bytes` (up to 15 bytes).
pub fn decode(bytes: &[u8]) -> Result<Instruction, DecodeError> {
    let Prefixes {
        len: mut at,
        operand16,
        other,
        rex,
    } = prefixes(bytes)?;
    // LOCK is #UD on a MOV, REP undefined, 67 changes the address only:
    // none of them is what a driver writes to a register.
    if let Some(b) = other {
        return Err(DecodeError::Unsupported(b));
    }
    let (w, r) = (rex & 8 != 0, (rex >> 2) & 1);
    let wide = if w {
        8
    } else if operand16 {
        2
    } else {
        4
    };
    let opcode = byte(bytes, at)?;
    at += 1;
    let (size, kind) = match opcode {
        0x88 => (1, Op::Store),
        0x89 => (wide, Op::Store),
        0x8a => (1, Op::Load),
        0x8b => (wide, Op::Load),
        0xc6 => (1, Op::Immediate),
        0xc7 => (wide, Op::Immediate),
        0x0f => {
            let second = byte(bytes, at)?;
            at += 1;
            match second {
                0xb6 => (1, Op::LoadZeroExtend),
                0xb7 => (2, Op::LoadZeroExtend),
                other => return Err(DecodeError::Unsupported(other)),
            }
        }
        other => return Err(DecodeError::Unsupported(other)),
    };
    let modrm = byte(bytes, at)?;
    at += 1;
    let (mode, reg_field, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if mode == 0b11 {
        return Err(DecodeError::NotMemory);
    }
    if rm == 0b100 {
        let sib = byte(bytes, at)?;
        at += 1;
        if mode == 0 && sib & 7 == 0b101 {
            at += 4;
        }
    }
    at += match (mode, rm) {
        (0, 0b101) => 4,
        (1, _) => 1,
        (2, _) => 4,
        _ => 0,
    };
    let reg = reg_field | (r << 3);
    let access = match kind {
        Op::Store => Access::Store {
            reg: if size == 1 && rex == 0 && (4..8).contains(&reg) {
                reg - 4
            } else {
                reg
            },
            high_byte: size == 1 && rex == 0 && (4..8).contains(&reg),
        },
        Op::Load => {
            let high = size == 1 && rex == 0 && (4..8).contains(&reg);
            Access::Load {
                reg: if high { reg - 4 } else { reg },
                extend: if high {
                    Extend::HighByte
                } else if size == 4 || size == 8 {
                    Extend::Zero
                } else {
                    Extend::Merge
                },
            }
        }
        Op::LoadZeroExtend => Access::Load {
            reg,
            // MOVZX into a 16-bit register writes bits 15:0 (zero above the
            // byte) and keeps bits 63:16.
            extend: if operand16 && !w {
                Extend::Merge16
            } else {
                Extend::Zero
            },
        },
        Op::Immediate => {
            if reg_field != 0 {
                return Err(DecodeError::Unsupported(opcode));
            }
            let n = size.min(4) as usize;
            let mut raw = [0u8; 8];
            for (i, b) in raw.iter_mut().take(n).enumerate() {
                *b = byte(bytes, at + i)?;
            }
            at += n;
            let value = u64::from_le_bytes(raw);
            // imm32 is sign-extended to 64 bits with REX.W.
            let value = if size == 8 {
                value as u32 as i32 as i64 as u64
            } else {
                value
            };
            Access::StoreImmediate(value)
        }
    };
    if at > 15 || at > bytes.len() {
        return Err(DecodeError::Truncated);
    }
    Ok(Instruction {
        len: at as u8,
        size,
        access,
    })
}

#[derive(Clone, Copy)]
enum Op {
    Load,
    LoadZeroExtend,
    Store,
    Immediate,
}

impl Instruction {
    /// The new value of the destination register after a load of `value`
    /// into a register that held `old`.
    pub fn merge(&self, old: u64, value: u64) -> u64 {
        let Access::Load { extend, .. } = self.access else {
            return old;
        };
        let mask = match self.size {
            1 => 0xff,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        };
        let value = value & mask;
        match extend {
            Extend::Zero => value,
            Extend::Merge => (old & !mask) | value,
            Extend::HighByte => (old & !0xff00) | (value << 8),
            Extend::Merge16 => (old & !0xffff) | value,
        }
    }

    /// The bytes a store writes, from the source register's value.
    pub fn store_value(&self, register: u64) -> Option<u64> {
        let mask = match self.size {
            1 => 0xff,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        };
        match self.access {
            Access::Store {
                high_byte: true, ..
            } => Some((register >> 8) & 0xff),
            Access::Store { .. } => Some(register & mask),
            Access::StoreImmediate(v) => Some(v & mask),
            Access::Load { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(reg: u8, extend: Extend) -> Access {
        Access::Load { reg, extend }
    }

    fn store(reg: u8) -> Access {
        Access::Store {
            reg,
            high_byte: false,
        }
    }

    #[test]
    fn moves_between_registers_and_memory() {
        // (bytes, len, size, access): encodings from the SDM's MOV/MOVZX pages.
        let cases: [(&[u8], u8, u8, Access); 10] = [
            (&[0x8b, 0x07], 2, 4, load(0, Extend::Zero)), // mov eax, [rdi]
            (&[0x89, 0x37], 2, 4, store(6)),              // mov [rdi], esi
            (&[0x48, 0x8b, 0x47, 0x08], 4, 8, load(0, Extend::Zero)), // mov rax, [rdi+8]
            (&[0x44, 0x8b, 0x07], 3, 4, load(8, Extend::Zero)), // mov r8d, [rdi]
            (&[0x8b, 0x84, 0x24, 0, 1, 0, 0], 7, 4, load(0, Extend::Zero)), // [rsp+0x100]
            (&[0x8b, 0x05, 0x10, 0, 0, 0], 6, 4, load(0, Extend::Zero)), // [rip+0x10]
            (&[0x66, 0x89, 0x37], 3, 2, store(6)),        // mov [rdi], si
            (&[0x0f, 0xb7, 0x07], 3, 2, load(0, Extend::Zero)), // movzx eax, word [rdi]
            (&[0x8a, 0x27], 2, 1, load(0, Extend::HighByte)), // mov ah, [rdi]
            (&[0x8b, 0x04, 0x25, 0, 0, 0, 4], 7, 4, load(0, Extend::Zero)), // [disp32] via SIB
        ];
        for (bytes, len, size, access) in cases {
            let i = decode(bytes).unwrap_or_else(|e| panic!("{bytes:x?}: {e:?}"));
            assert_eq!((i.len, i.size, i.access), (len, size, access), "{bytes:x?}");
        }
    }

    #[test]
    fn immediates_are_stored_with_their_width() {
        let i = decode(&[0xc7, 0x07, 0x78, 0x56, 0x34, 0x12]).unwrap();
        assert_eq!(
            (i.len, i.size, i.access),
            (6, 4, Access::StoreImmediate(0x1234_5678))
        );
        let i = decode(&[0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(i.store_value(0), Some(u64::MAX), "sign-extended");
        let i = decode(&[0xc6, 0x47, 0x04, 0xaa]).unwrap();
        assert_eq!((i.len, i.size, i.store_value(0)), (4, 1, Some(0xaa)));
        let i = decode(&[0x66, 0xc7, 0x07, 0x34, 0x12]).unwrap();
        assert_eq!((i.len, i.size, i.store_value(0)), (5, 2, Some(0x1234)));
    }

    #[test]
    fn loads_land_in_registers_as_the_architecture_says() {
        let d32 = decode(&[0x8b, 0x07]).unwrap();
        assert_eq!(
            d32.merge(u64::MAX, 0x1234_5678),
            0x1234_5678,
            "r32 zero-extends"
        );
        let d16 = decode(&[0x66, 0x8b, 0x07]).unwrap();
        assert_eq!(
            d16.merge(0xffff_ffff_ffff_0000, 0xabcd),
            0xffff_ffff_ffff_abcd
        );
        let ah = decode(&[0x8a, 0x27]).unwrap();
        assert_eq!(ah.merge(0x1122, 0x33), 0x3322);
        let movzx16 = decode(&[0x66, 0x0f, 0xb6, 0x07]).unwrap(); // movzx ax, byte [rdi]
        assert_eq!(
            movzx16.merge(0xffff_ffff_ffff_ffff, 0x12),
            0xffff_ffff_ffff_0012
        );
        let sil = decode(&[0x40, 0x8a, 0x37]).unwrap(); // mov sil, [rdi]: REX makes it SIL
        assert_eq!(sil.access, load(6, Extend::Merge));
        let high = decode(&[0x88, 0x3f]).unwrap(); // mov [rdi], bh
        assert_eq!(high.store_value(0xab00), Some(0xab));
    }

    /// The vCPU decodes only the bytes it could fetch: an instruction cut
    /// at a page end whose next page cannot be read is refused, never
    /// completed with zeros (which would store another value).
    #[test]
    fn an_instruction_cut_at_a_page_end_is_refused() {
        // mov dword [rax + 0x10], 0x11223344
        let whole = [0xc7, 0x80, 0x10, 0, 0, 0, 0x44, 0x33, 0x22, 0x11];
        assert!(decode(&whole).is_ok());
        for cut in 1..whole.len() {
            assert_eq!(decode(&whole[..cut]), Err(DecodeError::Truncated), "{cut}");
        }
    }

    #[test]
    fn fixed_instructions_are_stepped_over_with_their_prefixes() {
        let wbinvd: &[u8] = &[0x0f, 0x09];
        let cases: [(&[u8], &[u8], Option<u8>); 10] = [
            (&[0x0f, 0x09, 0x90], wbinvd, Some(2)),
            (&[0xf3, 0x0f, 0x09], wbinvd, Some(3)), // WBNOINVD
            (&[0x2e, 0xf4], &[0xf4], Some(2)),      // HLT with a segment prefix
            (
                &[0x66, 0x48, 0x0f, 0x01, 0xd9],
                &[0x0f, 0x01, 0xd9],
                Some(5),
            ), // VMMCALL
            (
                &[0x48, 0x66, 0x0f, 0x01, 0xd9],
                &[0x0f, 0x01, 0xd9],
                Some(5),
            ), // REX ignored
            (&[0xf3, 0x0f, 0x08], wbinvd, None),    // INVD is not WBINVD
            (&[0xf3, 0x0f], wbinvd, None),          // cut short
            (&[0x66; 15], wbinvd, None),            // prefixes only
            (
                &[
                    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                    0x0f, 0x09,
                ],
                wbinvd,
                Some(15),
            ),
            (
                &[
                    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                    0x66, 0x0f, 0x09,
                ],
                wbinvd,
                None,
            ), // 16 bytes
        ];
        for (bytes, opcode, want) in cases {
            assert_eq!(prefixed_length(bytes, opcode), want, "{bytes:x?}");
        }
    }

    #[test]
    fn what_is_not_an_mmio_move_is_refused() {
        assert_eq!(
            decode(&[0xf0, 0x89, 0x07]),
            Err(DecodeError::Unsupported(0xf0))
        ); // lock
        assert_eq!(
            decode(&[0x67, 0x8b, 0x07]),
            Err(DecodeError::Unsupported(0x67))
        );
        assert_eq!(decode(&[0x8b, 0xc0]), Err(DecodeError::NotMemory)); // mov eax, eax
        assert_eq!(decode(&[0x01, 0x07]), Err(DecodeError::Unsupported(0x01))); // add
        assert_eq!(
            decode(&[0xc7, 0x0f, 0, 0, 0, 0]),
            Err(DecodeError::Unsupported(0xc7))
        );
        assert_eq!(decode(&[0x8b]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x8b, 0x84, 0x24, 0]), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0x66; 15]), Err(DecodeError::Truncated));
        // Never panics on anything.
        let mut x = 0x1234_5678u32;
        for _ in 0..20_000 {
            let mut b = [0u8; 15];
            for v in &mut b {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *v = x as u8;
            }
            let _ = decode(&b);
        }
    }
}
