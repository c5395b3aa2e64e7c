//! PSCI (Arm DEN 0022) as vsva serves it to its guests: the function IDs,
//! return codes, and the one decoder of target MPIDRs every call uses.
//!
//! A partition's vCPU *n* has VMPIDR_EL2 Aff0 = *n* and every other
//! affinity field 0 (one power domain per vCPU), so a target names a vCPU
//! only when Aff0 is below the vCPU count and everything else is zero:
//! Aff1..Aff3 non-zero name a cluster vsva does not have, and bits 31:24
//! and 63:40 must be zero (§5.1.4 "target_cpu").

/// Function IDs (§5.1): 32-bit 0x8400_00xx, 64-bit (SMC64) 0xC400_00xx.
pub const VERSION: u64 = 0x8400_0000;
pub const CPU_OFF: u64 = 0x8400_0002;
pub const CPU_ON_64: u64 = 0xc400_0003;
pub const AFFINITY_INFO_64: u64 = 0xc400_0004;
pub const MIGRATE_INFO_TYPE: u64 = 0x8400_0006;
pub const SYSTEM_OFF: u64 = 0x8400_0008;
pub const SYSTEM_RESET: u64 = 0x8400_0009;
pub const FEATURES: u64 = 0x8400_000a;

/// Return codes (§5.2.2).
pub const SUCCESS: i64 = 0;
pub const NOT_SUPPORTED: i64 = -1;
pub const INVALID_PARAMETERS: i64 = -2;
pub const ALREADY_ON: i64 = -4;

/// PSCI 1.1.
pub const V1_1: u64 = 0x0001_0001;
/// MIGRATE_INFO_TYPE: no trusted OS that needs migrating.
pub const NO_TRUSTED_OS: u64 = 2;

/// AFFINITY_INFO results (§5.1.5).
pub const AFFINITY_ON: i64 = 0;
pub const AFFINITY_OFF: i64 = 1;

/// Whether `function` is in PSCI's ranges (either calling convention).
pub const fn is_psci(function: u64) -> bool {
    matches!(function & !0x1f, 0x8400_0000 | 0xc400_0000)
}

/// The vCPU a target MPIDR names, of `vcpus`; `None` for any other value
/// (INVALID_PARAMETERS).
pub fn target(mpidr: u64, vcpus: usize) -> Option<usize> {
    // Aff0 only: everything above bit 7 is zero for every vsva vCPU.
    let index = usize::try_from(mpidr).ok()?;
    (mpidr >> 8 == 0 && index < vcpus).then_some(index)
}

/// AFFINITY_INFO(`target_affinity`, `lowest_affinity_level`) over vCPUs
/// for which `is_off` tells whether each is off. vsva has one level of
/// affinity: a lowest level other than 0 is INVALID_PARAMETERS (§5.1.5:
/// from PSCI 1.0 only level 0 need be supported).
pub fn affinity_info(
    target_affinity: u64,
    lowest_level: u64,
    vcpus: usize,
    is_off: impl Fn(usize) -> bool,
) -> i64 {
    match target(target_affinity, vcpus) {
        Some(i) if lowest_level == 0 => {
            if is_off(i) {
                AFFINITY_OFF
            } else {
                AFFINITY_ON
            }
        }
        _ => INVALID_PARAMETERS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_aff0_below_the_vcpu_count_and_nothing_else() {
        assert_eq!(target(0, 2), Some(0));
        assert_eq!(target(1, 2), Some(1));
        assert_eq!(target(2, 2), None, "no such vCPU");
        // Higher affinity levels: Aff1, Aff2, Aff3.
        for mpidr in [1 << 8, 1 << 16, 1 << 32, (1 << 8) | 1] {
            assert_eq!(target(mpidr, 256), None, "{mpidr:#x}");
        }
        // Reserved and must-be-zero bits: MT (24), U (30), 31, above Aff3.
        for mpidr in [1 << 24, 1 << 30, 1 << 31, 1 << 40, 1 << 63] {
            assert_eq!(target(mpidr, 256), None, "{mpidr:#x}");
        }
    }

    #[test]
    fn affinity_info_uses_the_same_decoder_and_level_zero_only() {
        let off = |i: usize| i == 1;
        assert_eq!(affinity_info(0, 0, 2, off), AFFINITY_ON);
        assert_eq!(affinity_info(1, 0, 2, off), AFFINITY_OFF);
        // vCPU 1 with Aff1 set names another cluster, not vCPU 1.
        assert_eq!(affinity_info((1 << 8) | 1, 0, 2, off), INVALID_PARAMETERS);
        assert_eq!(affinity_info(1 << 32, 0, 2, off), INVALID_PARAMETERS);
        assert_eq!(affinity_info(2, 0, 2, off), INVALID_PARAMETERS);
        assert_eq!(affinity_info(1, 1, 2, off), INVALID_PARAMETERS);
    }

    #[test]
    fn psci_ranges_cover_both_conventions() {
        assert!(is_psci(VERSION) && is_psci(CPU_ON_64) && is_psci(0x8400_001f));
        assert!(!is_psci(0xc600_0000) && !is_psci(0x8400_0020));
    }
}
