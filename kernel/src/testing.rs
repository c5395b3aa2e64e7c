//! The in-kernel test runner (the `ktest` feature builds the test image).
//!
//! Output, one line per test, then the totals:
//! ```text
//! running 12 tests
//! test vsva::ktests::frames_come_back ... ok
//! test vsva::ktests::something ... FAILED
//!     kernel/src/ktests.rs:40: check failed: ...
//! 11 passed, 1 failed
//! ```
//! then QEMU exits with [`ExitCode::Success`] or [`ExitCode::TestsFailed`]. A test
//! that panics or traps ends the run as a crash, after its `FAILED` line.
#![deny(unsafe_code)]

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::arch;
use crate::cmdline::{Inject, Options};
use crate::exit::{ExitCode, exit};

/// An address no kernel mapping covers (above RAM, below the devices), for
/// `vsva.inject=pagefault`.
pub const UNMAPPED: u64 = 0xdead_0000;

/// Index + 1 of the running test in `ktest::tests()`; 0 when none runs.
static CURRENT: AtomicUsize = AtomicUsize::new(0);

/// The test running now, for the panic and trap handlers.
pub fn current() -> Option<&'static str> {
    let i = CURRENT.load(Ordering::SeqCst).checked_sub(1)?;
    ktest::tests().get(i).map(|t| t.name)
}

fn selected(name: &str, filter: Option<&str>) -> bool {
    filter.is_none_or(|f| name.contains(f))
}

pub fn run(options: &Options<'_>) -> ! {
    let tests = ktest::tests();
    let count = tests
        .iter()
        .filter(|t| selected(t.name, options.test_filter))
        .count();
    {
        let mut c = arch::console::lock();
        let _ = writeln!(c, "running {count} tests");
    }
    if let Some(inject) = options.inject {
        log::warn!("injecting a fault as asked: {inject:?}");
        match inject {
            Inject::Panic => panic!("injected by vsva.inject=panic"),
            Inject::Exception => arch::cpu::undefined_instruction(),
            Inject::PageFault => arch::cpu::write_unmapped(UNMAPPED),
            Inject::Hang => arch::cpu::hang(),
            Inject::Reset => arch::cpu::reset_without_exit(),
        }
    }
    let (mut passed, mut failed, mut skipped) = (0usize, 0usize, 0usize);
    for (i, test) in tests.iter().enumerate() {
        if !selected(test.name, options.test_filter) {
            continue;
        }
        CURRENT.store(i + 1, Ordering::SeqCst);
        let result = (test.run)();
        CURRENT.store(0, Ordering::SeqCst);
        let mut c = arch::console::lock();
        match result {
            Ok(()) => {
                passed += 1;
                let _ = writeln!(c, "test {} ... ok", test.name);
            }
            Err(skip) if skip.skipped => {
                skipped += 1;
                let _ = writeln!(c, "test {} ... skipped ({})", test.name, skip.message());
            }
            Err(failure) => {
                failed += 1;
                let _ = writeln!(c, "test {} ... FAILED", test.name);
                let _ = writeln!(c, "    {failure}");
            }
        }
    }
    {
        let mut c = arch::console::lock();
        let _ = writeln!(c, "{passed} passed, {failed} failed, {skipped} skipped");
    }
    exit(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::TestsFailed
    })
}
