//! The panic handler: prints where and why, names the test that was running, and
//! ends the QEMU run as a crash.

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::exit::{ExitCode, exit};

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut out = crate::arch::console::emergency();
    if PANICKING.swap(true, Ordering::SeqCst) {
        // A panic while reporting a panic: report nothing more.
        let _ = writeln!(out, "\n*** nested panic: {}", info.message());
        exit(ExitCode::Crash);
    }
    let _ = write!(out, "\n*** kernel panic");
    if let Some(location) = info.location() {
        let _ = write!(
            out,
            " at {}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        );
    }
    let _ = writeln!(out, ": {}", info.message());
    report_running_test(&mut out);
    exit(ExitCode::Crash)
}

/// Names the in-kernel test that was running when the kernel died, in the
/// runner's own format, so the harness counts it as failed.
pub fn report_running_test(out: &mut dyn Write) {
    #[cfg(feature = "ktest")]
    if let Some(name) = crate::testing::current() {
        let _ = writeln!(out, "test {name} ... FAILED (crashed)");
    }
    #[cfg(not(feature = "ktest"))]
    let _ = out;
}
