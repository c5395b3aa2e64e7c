//! Where the memory BARs of a function handed to a partition may lie. A
//! hypervisor maps them 1:1 into the partition's stage 2, so a BAR that
//! reads back an address in RAM, in the hypervisor's image, on interrupt
//! controller or IOMMU registers, or on ECAM would give the guest that
//! memory. A BAR must cover whole pages that lie inside a host bridge
//! window (where the windows are known) and touch none of the forbidden
//! ranges; its arithmetic is checked, so a size near 2^64 is refused rather
//! than wrapped.

use core::ops::Range;

/// A range no BAR of an assigned function may touch, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbidden {
    pub range: Range<u64>,
    pub what: &'static str,
}

/// Why a BAR cannot be mapped for a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misplaced {
    /// Its range wraps past the top of the address space.
    Wraps,
    /// It is not inside any host bridge window.
    OutsideWindows,
    /// It touches a forbidden range.
    Overlaps(&'static str),
}

/// The pages (of `page` bytes, a power of two) `[address, address + size)`
/// covers; `None` when the range wraps.
pub fn pages(address: u64, size: u64, page: u64) -> Option<Range<u64>> {
    let end = address.checked_add(size)?.checked_next_multiple_of(page)?;
    Some(address & !(page - 1)..end)
}

/// Whether `a` and `b` share a byte.
pub fn overlap(a: &Range<u64>, b: &Range<u64>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Checks one BAR: its pages, inside one of `windows` (none given: not
/// known, not checked), touching none of `forbidden`.
pub fn check(
    address: u64,
    size: u64,
    page: u64,
    windows: &[Range<u64>],
    forbidden: &[Forbidden],
) -> Result<Range<u64>, Misplaced> {
    let p = pages(address, size, page).ok_or(Misplaced::Wraps)?;
    if !windows.is_empty() && !windows.iter().any(|w| w.start <= p.start && p.end <= w.end) {
        return Err(Misplaced::OutsideWindows);
    }
    match forbidden.iter().find(|f| overlap(&f.range, &p)) {
        Some(f) => Err(Misplaced::Overlaps(f.what)),
        None => Ok(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = 4096;

    fn forbidden() -> [Forbidden; 3] {
        [
            Forbidden {
                range: 0x4000_0000..0x8000_0000,
                what: "RAM",
            },
            Forbidden {
                range: 0xfee0_0000..0xfee0_1000,
                what: "local APIC",
            },
            Forbidden {
                range: 0xb000_0000..0xc000_0000,
                what: "ECAM",
            },
        ]
    }

    #[test]
    fn a_bar_in_a_window_away_from_everything_is_taken_by_whole_pages() {
        let w = [0xfe00_0000..0xfec0_0000, 0x80_0000_0000..0x81_0000_0000];
        assert_eq!(
            check(0xfea0_0010, 0x100, PAGE, &w, &forbidden()),
            Ok(0xfea0_0000..0xfea0_1000)
        );
        // Windows unknown (ACPI: in AML): only the forbidden ranges count.
        assert_eq!(
            check(0xfea0_0000, 0x10_0000, PAGE, &[], &forbidden()),
            Ok(0xfea0_0000..0xfeb0_0000)
        );
    }

    #[test]
    fn bars_on_ram_registers_or_ecam_are_refused() {
        for (address, size, what) in [
            (0x4000_0000, 0x1000, "RAM"),
            (0x3fff_f000, 0x2000, "RAM"),
            (0x7fff_ffff, 1, "RAM"),
            (0xfee0_0800, 0x10, "local APIC"),
            (0xbfff_f000, 0x1000, "ECAM"),
        ] {
            assert_eq!(
                check(address, size, PAGE, &[], &forbidden()),
                Err(Misplaced::Overlaps(what)),
                "{address:#x}+{size:#x}"
            );
        }
    }

    #[test]
    fn bars_outside_the_windows_are_refused() {
        let w = [0x1000_0000..0x3eff_0000, 0x80_0000_0000..0x100_0000_0000];
        assert_eq!(
            check(0x3efe_0000, 0x2_0000, PAGE, &w, &[]),
            Err(Misplaced::OutsideWindows),
            "straddles the window's end"
        );
        assert_eq!(
            check(0x9000_0000, 0x1000, PAGE, &w, &[]),
            Err(Misplaced::OutsideWindows)
        );
        assert!(check(0x80_0000_0000, 0x4000, PAGE, &w, &[]).is_ok());
    }

    #[test]
    fn sizes_near_the_top_of_the_address_space_are_refused_not_wrapped() {
        for (address, size) in [
            (u64::MAX - 0xfff, 0x1000),
            (0xfea0_0000, u64::MAX),
            (!0xfff, 1),
            (1 << 63, 1 << 63),
        ] {
            assert_eq!(
                check(address, size, PAGE, &[], &[]),
                Err(Misplaced::Wraps),
                "{address:#x}+{size:#x}"
            );
        }
        assert_eq!(
            pages(u64::MAX - 0x1fff, 0x1000, PAGE),
            Some(u64::MAX - 0x1fff..u64::MAX - 0xfff)
        );
    }
}
