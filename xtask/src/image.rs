//! ELF to flat binary, for the arm64 Image QEMU loads.
//!
//! QEMU passes the device tree in x0 only to a raw arm64 Image (a file starting
//! with the Image header); for an ELF it passes nothing. The kernel ELF already
//! starts with that header (boot/src/arch/image.rs), so the Image is the
//! loadable segments laid out by physical address, `.bss` included as zeros so
//! the header's image_size and the file agree.

use std::fmt;

/// Why an ELF could not be flattened.
#[derive(Debug, PartialEq, Eq)]
pub enum ImageError {
    NotElf64,
    Truncated(&'static str),
    NoLoadableSegment,
    /// Segments spread over more than this many bytes.
    TooLarge(u64),
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageError::NotElf64 => write!(f, "not a little-endian ELF64 file"),
            ImageError::Truncated(what) => write!(f, "ELF truncated in {what}"),
            ImageError::NoLoadableSegment => write!(f, "ELF has no loadable segment"),
            ImageError::TooLarge(n) => write!(f, "segments span {n} bytes"),
        }
    }
}

const PT_LOAD: u32 = 1;
const MAX_IMAGE: u64 = 256 << 20;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Lays the PT_LOAD segments of `elf` out from the lowest physical address.
/// Returns (load address, bytes).
pub fn flatten(elf: &[u8]) -> Result<(u64, Vec<u8>), ImageError> {
    // e_ident: magic, ELFCLASS64 (2), ELFDATA2LSB (1).
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return Err(ImageError::NotElf64);
    }
    let phoff = u64_at(elf, 0x20).ok_or(ImageError::Truncated("header"))? as usize;
    let phentsize = u16_at(elf, 0x36).ok_or(ImageError::Truncated("header"))? as usize;
    let phnum = u16_at(elf, 0x38).ok_or(ImageError::Truncated("header"))? as usize;
    let mut segments = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let kind = u32_at(elf, ph).ok_or(ImageError::Truncated("program headers"))?;
        if kind != PT_LOAD {
            continue;
        }
        let field = |off| u64_at(elf, ph + off).ok_or(ImageError::Truncated("program headers"));
        let (offset, paddr, filesz, memsz) =
            (field(0x08)?, field(0x18)?, field(0x20)?, field(0x28)?);
        if memsz == 0 {
            continue;
        }
        let data = elf
            .get(offset as usize..(offset + filesz) as usize)
            .ok_or(ImageError::Truncated("segment data"))?;
        segments.push((paddr, data, memsz));
    }
    let base = segments
        .iter()
        .map(|s| s.0)
        .min()
        .ok_or(ImageError::NoLoadableSegment)?;
    let end = segments
        .iter()
        .map(|s| s.0 + s.2)
        .max()
        .ok_or(ImageError::NoLoadableSegment)?;
    if end - base > MAX_IMAGE {
        return Err(ImageError::TooLarge(end - base));
    }
    let mut out = vec![0u8; (end - base) as usize];
    for (paddr, data, _) in segments {
        let at = (paddr - base) as usize;
        out[at..at + data.len()].copy_from_slice(data);
    }
    Ok((base, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 with the given (paddr, bytes, memsz) PT_LOAD segments.
    fn elf(segments: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let phoff = 64usize;
        let data_at = phoff + 56 * segments.len();
        let mut out = vec![0u8; data_at];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
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

    #[test]
    fn segments_land_at_their_physical_offsets_with_bss_zeroed() {
        let e = elf(&[(0x4020_1000, b"data", 0x10), (0x4020_0000, b"head", 4)]);
        let (base, image) = flatten(&e).unwrap();
        assert_eq!(base, 0x4020_0000);
        assert_eq!(image.len(), 0x1010);
        assert_eq!(&image[..4], b"head");
        assert_eq!(&image[0x1000..0x1004], b"data");
        assert!(image[4..0x1000].iter().all(|&b| b == 0));
        assert!(image[0x1004..].iter().all(|&b| b == 0));
    }

    #[test]
    fn bad_files_are_refused() {
        assert_eq!(flatten(b"not an elf"), Err(ImageError::NotElf64));
        let mut e = elf(&[(0x1000, b"abcd", 4)]);
        e.truncate(e.len() - 2);
        assert_eq!(flatten(&e), Err(ImageError::Truncated("segment data")));
        assert_eq!(flatten(&elf(&[])), Err(ImageError::NoLoadableSegment));
        let far = elf(&[(0, b"a", 1), (1 << 40, b"b", 1)]);
        assert!(matches!(flatten(&far), Err(ImageError::TooLarge(_))));
    }
}
