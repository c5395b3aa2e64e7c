//! xtask's own tests of the QEMU harness: a kernel that panics, one that takes an
//! exception, one that hangs and one that resets the machine must each be
//! reported as a failure, with the reason, on both architectures. The test image is told to misbehave through
//! its command line (`vsva.inject=...`, kernel/src/testing.rs).

use std::time::Duration;

use crate::arch::Arch;
use crate::kernel::{self, Flavor};
use crate::qemu::{self, Accel, Outcome, RunConfig, RunResult};
use crate::test::tally_kernel;

fn run_injected(arch: Arch, inject: &str, timeout: Duration) -> RunResult {
    let kernel = kernel::build(arch, Flavor::Test, false).expect("test kernel builds");
    let config = RunConfig {
        accel: Accel::Tcg,
        cmdline: format!("vsva.inject={inject}"),
        timeout: Some(timeout),
        gdb: false,
        echo: false,
        extra_args: Vec::new(),
        iommu: qemu::IommuConfig::Default,
    };
    qemu::run(&kernel, &config).expect("QEMU starts")
}

fn check_crash(arch: Arch, inject: &str, expected: &[&str]) {
    let result = run_injected(arch, inject, Duration::from_secs(120));
    let Outcome::Crash { reason } = &result.outcome else {
        panic!(
            "{arch}: expected a crash, got {:?}\n{}",
            result.outcome,
            result.lines.join("\n")
        );
    };
    for text in expected {
        assert!(
            reason.contains(text),
            "{arch}: reason {reason:?} lacks {text:?}"
        );
    }
    let tally = tally_kernel(&result.lines, &result.outcome);
    assert_eq!(tally.passed, 0, "{arch}: no test may pass");
    assert!(tally.failed >= 1, "{arch}: the crash must count as failed");
}

#[test]
fn a_panicking_kernel_is_a_crash_with_its_message_and_location() {
    for arch in Arch::ALL {
        check_crash(
            arch,
            "panic",
            &[
                "kernel panic at kernel/src/testing.rs",
                "injected by vsva.inject=panic",
            ],
        );
    }
}

#[test]
fn a_kernel_taking_an_exception_is_a_crash_with_the_decoded_exception() {
    check_crash(
        Arch::X86_64,
        "exception",
        &["exception 6 (#UD invalid opcode)", "rip 0x"],
    );
    check_crash(
        Arch::Aarch64,
        "exception",
        &[
            "exception: synchronous, current EL with SP_EL2",
            "EC 0x00 unknown reason",
        ],
    );
}

#[test]
fn a_page_fault_is_a_crash_with_the_decoded_fault_and_address() {
    check_crash(
        Arch::X86_64,
        "pagefault",
        &[
            "exception 14 (#PF page fault)",
            "not-present page on write in supervisor mode",
            "faulting address (CR2) 0x00000000dead0000",
        ],
    );
    check_crash(
        Arch::Aarch64,
        "pagefault",
        &[
            "data abort, same EL",
            "translation fault",
            "on write",
            "faulting address (FAR_EL2) 0x00000000dead0000",
        ],
    );
}

#[test]
fn a_hanging_kernel_is_stopped_at_the_time_limit() {
    for arch in Arch::ALL {
        let limit = Duration::from_secs(8);
        let result = run_injected(arch, "hang", limit);
        assert_eq!(result.outcome, Outcome::Timeout(limit), "{arch}");
        assert!(
            result.lines.iter().any(|l| l.starts_with("running ")),
            "{arch}: the kernel had booted"
        );
        assert!(tally_kernel(&result.lines, &result.outcome).failed >= 1);
    }
}

#[test]
fn a_machine_reset_without_the_exit_device_is_a_failure() {
    // x86_64: a triple fault; aarch64: PSCI SYSTEM_OFF. QEMU exits 0 for both.
    for arch in Arch::ALL {
        let result = run_injected(arch, "reset", Duration::from_secs(120));
        assert_eq!(
            result.outcome,
            Outcome::Reset,
            "{arch}\n{}",
            result.lines.join("\n")
        );
        assert!(tally_kernel(&result.lines, &result.outcome).failed >= 1);
    }
}
