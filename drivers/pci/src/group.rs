//! Isolation groups, the unit a hypervisor may give to one partition: the
//! functions of a device whose peer-to-peer traffic need not pass the
//! IOMMU. Functions of one multi-function device may reach each other
//! inside the device unless ACS redirects that traffic upstream (PCIe
//! §6.12.1.2: P2P Request / Completion Redirect, Upstream Forwarding,
//! Source Validation), so without it they are one group. Bridges (class
//! 06h: host, ISA, PCI-to-PCI bridges, root ports) route other devices'
//! traffic and are never given to a partition.

use alloc::vec::Vec;

use crate::{AcsFlags, Bdf, ClassCode};

/// The ACS controls that keep a function's peer-to-peer requests and
/// completions off its siblings.
pub const ISOLATING_ACS: AcsFlags = AcsFlags::SOURCE_VALIDATION
    .union(AcsFlags::P2P_REQUEST_REDIRECT)
    .union(AcsFlags::P2P_COMPLETION_REDIRECT)
    .union(AcsFlags::UPSTREAM_FORWARDING);

/// Whether a function of `class` may be given to a partition at all.
pub const fn assignable(class: ClassCode, is_bridge: bool) -> bool {
    // Base class 06h: bridge devices (PCI Code and ID Assignment §1.7).
    !is_bridge && class.base != 0x06
}

/// The functions that must go wherever `target` goes: itself, and unless
/// `acs` (the ACS controls enabled on it) isolates it, every other function
/// of its device among `functions`.
pub fn group_of(target: Bdf, acs: Option<AcsFlags>, functions: &[Bdf]) -> Vec<Bdf> {
    let isolated = acs.is_some_and(|a| a.contains(ISOLATING_ACS));
    let mut group = alloc::vec![target];
    if !isolated {
        group.extend(
            functions.iter().copied().filter(|f| {
                *f != target && f.bus() == target.bus() && f.device() == target.device()
            }),
        );
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
        Bdf::new(bus, device, function).unwrap()
    }

    #[test]
    fn functions_of_one_device_go_together_without_acs() {
        let all = [
            bdf(0, 0x1f, 0),
            bdf(0, 0x1f, 2),
            bdf(0, 0x1f, 3),
            bdf(0, 1, 0),
            bdf(1, 0x1f, 0),
        ];
        assert_eq!(
            group_of(bdf(0, 0x1f, 2), None, &all),
            [bdf(0, 0x1f, 2), bdf(0, 0x1f, 0), bdf(0, 0x1f, 3)]
        );
        // Partial ACS (redirect without upstream forwarding) is not enough.
        let partial = AcsFlags::P2P_REQUEST_REDIRECT | AcsFlags::P2P_COMPLETION_REDIRECT;
        assert_eq!(group_of(bdf(0, 0x1f, 2), Some(partial), &all).len(), 3);
        assert_eq!(
            group_of(bdf(0, 0x1f, 2), Some(ISOLATING_ACS), &all),
            [bdf(0, 0x1f, 2)]
        );
        // A single-function device is its own group.
        assert_eq!(group_of(bdf(0, 1, 0), None, &all), [bdf(0, 1, 0)]);
    }

    #[test]
    fn bridges_are_never_assignable() {
        let class = |base, sub| ClassCode {
            base,
            sub,
            prog_if: 0,
        };
        assert!(!assignable(class(0x06, 0x00), false), "host bridge");
        assert!(!assignable(class(0x06, 0x01), false), "ISA bridge");
        assert!(!assignable(class(0x06, 0x04), true), "PCI-to-PCI bridge");
        assert!(
            !assignable(class(0x00, 0xff), true),
            "a type-1 header whatever its class"
        );
        assert!(assignable(class(0x00, 0xff), false));
        assert!(assignable(class(0x02, 0x00), false));
    }
}
