//! ELF to flat binary, for the arm64 Image QEMU loads.
//!
//! QEMU passes the device tree in x0 only to a raw arm64 Image (a file starting
//! with the Image header); for an ELF it passes nothing. The kernel ELF already
//! starts with that header (boot/src/arch/image.rs), so the Image is the
//! loadable segments laid out by physical address, `.bss` included as zeros so
//! the header's image_size and the file agree.

use vsva_boot::elf::Elf;

/// Largest image accepted: far above the kernel, far below anything absurd.
const MAX_IMAGE: u64 = 256 << 20;

/// Lays the PT_LOAD segments of `elf` out from the lowest physical address.
/// Returns (load address, bytes).
pub fn flatten(elf: &[u8]) -> Result<(u64, Vec<u8>), String> {
    let elf = Elf::parse(elf).map_err(|e| e.to_string())?;
    let (base, end) = elf.span();
    if end - base > MAX_IMAGE {
        return Err(format!("segments span {} bytes", end - base));
    }
    let mut out = vec![0u8; (end - base) as usize];
    for segment in elf.segments() {
        let segment = segment.map_err(|e| e.to_string())?;
        let at = (segment.paddr - base) as usize;
        out[at..at + segment.data.len()].copy_from_slice(segment.data);
    }
    Ok((base, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vsva_boot::elf::testing::elf;

    #[test]
    fn segments_land_at_their_physical_offsets_with_bss_zeroed() {
        let e = elf(
            0,
            &[(0x4020_1000, b"data", 0x10), (0x4020_0000, b"head", 4)],
        );
        let (base, image) = flatten(&e).unwrap();
        assert_eq!(base, 0x4020_0000);
        assert_eq!(image.len(), 0x1010);
        assert_eq!(&image[..4], b"head");
        assert_eq!(&image[0x1000..0x1004], b"data");
        assert!(image[4..0x1000].iter().all(|&b| b == 0));
        assert!(image[0x1004..].iter().all(|&b| b == 0));
    }

    #[test]
    fn bad_files_and_absurd_spans_are_refused() {
        assert!(
            flatten(b"not an elf")
                .unwrap_err()
                .contains("not a little-endian ELF64")
        );
        let far = elf(0, &[(0, b"a", 1), (1 << 40, b"b", 1)]);
        assert!(flatten(&far).unwrap_err().contains("span"));
    }
}
