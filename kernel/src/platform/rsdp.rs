//! Finding the ACPI RSDP in the BIOS areas when the loader did not pass it
//! (ACPI 6.5 §5.2.5.1: on 16-byte boundaries in the first KiB of the EBDA, then
//! in 0xE0000-0xFFFFF).
#![deny(unsafe_code)]

/// "RSD PTR " (ACPI 6.5 §5.2.5.3).
const SIGNATURE: &[u8; 8] = b"RSD PTR ";

/// Bytes covered by the ACPI 1.0 checksum.
const V1_LENGTH: usize = 20;

/// Searches `area`, which starts at physical address `base`, for an RSDP whose
/// ACPI 1.0 checksum (and, for revision 2+, extended checksum) is valid.
pub fn find(area: &[u8], base: u64) -> Option<u64> {
    (0..area.len()).step_by(16).find_map(|at| {
        let candidate = area.get(at..)?;
        if candidate.get(..8)? != SIGNATURE {
            return None;
        }
        let v1 = candidate.get(..V1_LENGTH)?;
        if v1.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
            return None;
        }
        if candidate[15] >= 2 {
            let length = u32::from_le_bytes(candidate.get(20..24)?.try_into().ok()?) as usize;
            let whole = candidate.get(..length.max(V1_LENGTH))?;
            if whole.iter().fold(0u8, |a, b| a.wrapping_add(*b)) != 0 {
                return None;
            }
        }
        Some(base + at as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsdp(revision: u8) -> Vec<u8> {
        let mut r = vec![0u8; 36];
        r[..8].copy_from_slice(SIGNATURE);
        r[9..15].copy_from_slice(b"VSVA  ");
        r[15] = revision;
        r[16..20].copy_from_slice(&0x7fe_1234u32.to_le_bytes());
        r[20..24].copy_from_slice(&36u32.to_le_bytes());
        let sum = r[..20].iter().fold(0u8, |a, b| a.wrapping_add(*b));
        r[8] = 0u8.wrapping_sub(sum);
        let sum = r.iter().fold(0u8, |a, b| a.wrapping_add(*b));
        r[32] = 0u8.wrapping_sub(sum);
        r
    }

    #[test]
    fn finds_a_valid_rsdp_on_a_16_byte_boundary_only() {
        let mut area = vec![0u8; 0x400];
        area[0x108..0x108 + 36].copy_from_slice(&rsdp(2)); // not 16-aligned: ignored
        assert_eq!(find(&area, 0xe0000), None);
        area[0x200..0x200 + 36].copy_from_slice(&rsdp(2));
        assert_eq!(find(&area, 0xe0000), Some(0xe0200));
    }

    #[test]
    fn bad_checksums_and_truncation_are_skipped() {
        let mut area = vec![0u8; 0x100];
        let mut bad = rsdp(0);
        bad[10] ^= 1;
        area[0x10..0x10 + 36].copy_from_slice(&bad);
        area[0x40..0x40 + 36].copy_from_slice(&rsdp(0));
        assert_eq!(find(&area, 0), Some(0x40));
        let cut = &rsdp(2)[..30];
        assert_eq!(find(cut, 0), None);
    }
}
