//! The loadable segments of an ELF64 file: what xtask needs to make the arm64
//! Image and what the UEFI loader needs to place the kernel. Safe code over a
//! byte slice; a malformed file gives an error, never a panic.

use core::fmt;

/// A `PT_LOAD` program header (ELF-64 Object File Format, "Program header").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Physical load address.
    pub paddr: u64,
    /// The bytes in the file; the rest, up to `memsz`, is zero.
    pub data: &'a [u8],
    pub memsz: u64,
}

/// Why an ELF file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    NotElf64,
    Truncated(&'static str),
    NoLoadableSegment,
    /// A segment's file size exceeds its memory size, or its end overflows.
    BadSegment(u64),
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf64 => write!(f, "not a little-endian ELF64 file"),
            Self::Truncated(what) => write!(f, "ELF truncated in {what}"),
            Self::NoLoadableSegment => write!(f, "ELF has no loadable segment"),
            Self::BadSegment(paddr) => write!(f, "malformed segment at {paddr:#x}"),
        }
    }
}

const PT_LOAD: u32 = 1;

fn field<const N: usize>(b: &[u8], at: usize, what: &'static str) -> Result<[u8; N], ElfError> {
    b.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(ElfError::Truncated(what))
}

/// A checked ELF64 file.
#[derive(Clone, Copy, Debug)]
pub struct Elf<'a> {
    bytes: &'a [u8],
    entry: u64,
    phoff: usize,
    phentsize: usize,
    phnum: usize,
}

impl<'a> Elf<'a> {
    /// Checks the header and every `PT_LOAD` program header.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        // e_ident: magic, ELFCLASS64 (2), ELFDATA2LSB (1).
        if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 || bytes[5] != 1 {
            return Err(ElfError::NotElf64);
        }
        let elf = Self {
            bytes,
            entry: u64::from_le_bytes(field(bytes, 0x18, "header")?),
            phoff: u64::from_le_bytes(field(bytes, 0x20, "header")?) as usize,
            phentsize: u16::from_le_bytes(field(bytes, 0x36, "header")?) as usize,
            phnum: u16::from_le_bytes(field(bytes, 0x38, "header")?) as usize,
        };
        if elf.phentsize < 56 {
            return Err(ElfError::Truncated("program headers"));
        }
        let mut any = false;
        for segment in elf.segments() {
            segment?;
            any = true;
        }
        if any {
            Ok(elf)
        } else {
            Err(ElfError::NoLoadableSegment)
        }
    }

    /// The entry point (`e_entry`).
    pub fn entry(&self) -> u64 {
        self.entry
    }

    /// The `PT_LOAD` segments with a non-zero memory size, in file order.
    pub fn segments(&self) -> impl Iterator<Item = Result<Segment<'a>, ElfError>> + '_ {
        (0..self.phnum).filter_map(move |i| {
            let ph = self.phoff.checked_add(i.checked_mul(self.phentsize)?)?;
            let read = || -> Result<Option<Segment<'a>>, ElfError> {
                let b = self.bytes;
                let what = "program headers";
                if u32::from_le_bytes(field(b, ph, what)?) != PT_LOAD {
                    return Ok(None);
                }
                let offset = u64::from_le_bytes(field(b, ph + 0x08, what)?);
                let paddr = u64::from_le_bytes(field(b, ph + 0x18, what)?);
                let filesz = u64::from_le_bytes(field(b, ph + 0x20, what)?);
                let memsz = u64::from_le_bytes(field(b, ph + 0x28, what)?);
                if memsz == 0 {
                    return Ok(None);
                }
                if filesz > memsz || paddr.checked_add(memsz).is_none() {
                    return Err(ElfError::BadSegment(paddr));
                }
                let end = offset
                    .checked_add(filesz)
                    .ok_or(ElfError::BadSegment(paddr))?;
                let data = b
                    .get(offset as usize..end as usize)
                    .ok_or(ElfError::Truncated("segment data"))?;
                Ok(Some(Segment { paddr, data, memsz }))
            };
            read().transpose()
        })
    }

    /// `[lowest paddr, highest paddr + memsz)` over all loadable segments.
    pub fn span(&self) -> (u64, u64) {
        let segments = || self.segments().filter_map(Result::ok);
        let start = segments().map(|s| s.paddr).min().unwrap_or(0);
        let end = segments().map(|s| s.paddr + s.memsz).max().unwrap_or(0);
        (start, end)
    }
}

/// Builds small ELF files for tests (of this crate and of xtask's Image maker).
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    extern crate alloc;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::PT_LOAD;

    /// A minimal ELF64 with the given (paddr, bytes, memsz) PT_LOAD segments.
    pub fn elf(entry: u64, segments: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let phoff = 64usize;
        let mut out = vec![0u8; phoff + 56 * segments.len()];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[0x18..0x20].copy_from_slice(&entry.to_le_bytes());
        out[0x20..0x28].copy_from_slice(&(phoff as u64).to_le_bytes());
        out[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        out[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (i, (paddr, bytes, memsz)) in segments.iter().enumerate() {
            let ph = phoff + 56 * i;
            let offset = out.len() as u64;
            out[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            out[ph + 0x08..ph + 0x10].copy_from_slice(&offset.to_le_bytes());
            out[ph + 0x18..ph + 0x20].copy_from_slice(&paddr.to_le_bytes());
            out[ph + 0x20..ph + 0x28].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
            out[ph + 0x28..ph + 0x30].copy_from_slice(&memsz.to_le_bytes());
            out.extend_from_slice(bytes);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::elf::testing::elf;

    #[test]
    fn segments_entry_and_span() {
        let e = elf(
            0x4020_0040,
            &[(0x4020_1000, b"data", 0x10), (0x4020_0000, b"head", 4)],
        );
        let elf = Elf::parse(&e).unwrap();
        assert_eq!(elf.entry(), 0x4020_0040);
        let segs: Vec<_> = elf.segments().map(Result::unwrap).collect();
        assert_eq!(segs.len(), 2);
        assert_eq!(
            segs[0],
            Segment {
                paddr: 0x4020_1000,
                data: b"data",
                memsz: 0x10
            }
        );
        assert_eq!(elf.span(), (0x4020_0000, 0x4020_1010));
    }

    #[test]
    fn malformed_files_are_refused() {
        assert_eq!(Elf::parse(b"not an elf").unwrap_err(), ElfError::NotElf64);
        let mut e = elf(0, &[(0x1000, b"abcd", 4)]);
        e.truncate(e.len() - 2);
        assert_eq!(
            Elf::parse(&e).unwrap_err(),
            ElfError::Truncated("segment data")
        );
        assert_eq!(
            Elf::parse(&elf(0, &[])).unwrap_err(),
            ElfError::NoLoadableSegment
        );
        let big = elf(0, &[(0x1000, b"abcdef", 2)]);
        assert_eq!(Elf::parse(&big).unwrap_err(), ElfError::BadSegment(0x1000));
        let wrap = elf(0, &[(u64::MAX - 1, b"a", 8)]);
        assert_eq!(
            Elf::parse(&wrap).unwrap_err(),
            ElfError::BadSegment(u64::MAX - 1)
        );
        // A header claiming more program headers than the file holds.
        let mut e = elf(0, &[(0x1000, b"ab", 2)]);
        e[0x38] = 200;
        assert!(Elf::parse(&e).is_err());
    }
}
