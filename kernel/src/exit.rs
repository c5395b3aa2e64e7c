//! How a QEMU run ends. xtask maps the status back (see `xtask/src/qemu.rs`).
#![deny(unsafe_code)]

/// The three ways vsva ends a run on purpose. Anything else QEMU reports (a reset
/// from a triple fault, PSCI power-off, a signal) is a crash from xtask's view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Booted (or ran every test) and all went well.
    Success,
    /// Tests ran and at least one failed.
    TestsFailed,
    /// A panic or a fatal exception.
    Crash,
}

impl ExitCode {
    /// The value written to x86's `isa-debug-exit`; QEMU exits `(value << 1) | 1`.
    pub const fn device_value(self) -> u32 {
        match self {
            Self::Success => 0x10,
            Self::TestsFailed => 0x11,
            Self::Crash => 0x12,
        }
    }

    /// The status QEMU's process exits with, the same on both architectures
    /// (semihosting SYS_EXIT passes it through unchanged).
    pub const fn status(self) -> u32 {
        (self.device_value() << 1) | 1
    }
}

/// Leaves QEMU with `code`.
#[cfg(target_os = "none")]
pub fn exit(code: ExitCode) -> ! {
    crate::arch::cpu::exit_qemu(code)
}
