//! In-kernel test registration for vsva.
//!
//! A test is an ordinary function declared through [`ktest!`] in any crate that is
//! linked into the kernel image. The macro places a [`Test`] descriptor in the
//! `.ktests` linker section; the kernel's linker scripts keep that section and
//! bracket it with `__ktests_start` / `__ktests_end`, so the test image finds every
//! test without a central list.
//!
//! Tests do not panic to fail: they return a [`TestResult`], and the [`check!`],
//! [`check_eq!`] and [`check_ne!`] macros return early with a [`Failure`] that
//! records the location and a formatted message (on the heap: tests run after
//! the kernel's heap is up). A panic still fails the run (the
//! kernel's panic handler reports which test was running), but it ends the run.
#![no_std]

extern crate alloc;

use alloc::string::String;
use core::fmt;

/// The outcome of one test.
pub type TestResult = Result<(), Failure>;

/// One registered test.
#[derive(Debug)]
#[repr(C)]
pub struct Test {
    /// `crate::module::function`, unique within the image.
    pub name: &'static str,
    /// The test body.
    pub run: fn() -> TestResult,
}

/// Why a test failed (or was skipped): where, and a formatted message.
pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    message: String,
    /// The test did not run its checks because the machine lacks what it needs
    /// (a capability another QEMU configuration of the suite has).
    pub skipped: bool,
}

impl Failure {
    /// Builds a failure from a message formatted at the failing check.
    pub fn new(file: &'static str, line: u32, args: fmt::Arguments<'_>) -> Self {
        Self {
            file,
            line,
            message: alloc::format!("{args}"),
            skipped: false,
        }
    }

    /// A skip: the test does not apply to this machine, for the reason given.
    pub fn skip(file: &'static str, line: u32, args: fmt::Arguments<'_>) -> Self {
        Self {
            skipped: true,
            ..Self::new(file, line, args)
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Declares an in-kernel test.
///
/// ```ignore
/// ktest::ktest! {
///     fn frames_come_back() {
///         let frame = alloc().ok_or_else(|| ktest::fail!("out of frames"))?;
///         ktest::check_eq!(frame % 4096, 0);
///         Ok(())
///     }
/// }
/// ```
#[macro_export]
macro_rules! ktest {
    ($(#[$attr:meta])* fn $name:ident() $body:block) => {
        $(#[$attr])*
        fn $name() -> $crate::TestResult $body

        const _: () = {
            // The section is collected by the kernel's linker script; `used` keeps the
            // descriptor although nothing refers to it by name.
            #[used]
            #[allow(unsafe_code)]
            #[unsafe(link_section = ".ktests")]
            static TEST: $crate::Test = $crate::Test {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: $name,
            };
        };
    };
}

/// A [`Failure`] at the caller's location with a formatted message.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)+) => {
        $crate::Failure::new(file!(), line!(), format_args!($($arg)+))
    };
}

/// Ends the test as skipped with a reason: for tests that need a capability the
/// machine under test lacks (another QEMU configuration in the suite has it).
#[macro_export]
macro_rules! skip {
    ($($arg:tt)+) => {
        return Err($crate::Failure::skip(file!(), line!(), format_args!($($arg)+)))
    };
}

/// Fails the test unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            return Err($crate::fail!("check failed: {}", stringify!($cond)));
        }
    };
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err($crate::fail!($($arg)+));
        }
    };
}

/// Fails the test unless both values are equal; prints both (hex, one line).
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if !(*l == *r) {
                    return Err($crate::fail!(
                        "{} == {}: left {:x?}, right {:x?}",
                        stringify!($left),
                        stringify!($right),
                        l,
                        r
                    ));
                }
            }
        }
    };
}

/// Fails the test if both values are equal.
#[macro_export]
macro_rules! check_ne {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if *l == *r {
                    return Err($crate::fail!(
                        "{} != {}: both {:x?}",
                        stringify!($left),
                        stringify!($right),
                        l
                    ));
                }
            }
        }
    };
}

/// Every test linked into this image, in link order.
#[cfg(target_os = "none")]
pub fn tests() -> &'static [Test] {
    // Only the symbols' addresses are used; the `Test` type is for the slice.
    #[allow(improper_ctypes)]
    unsafe extern "C" {
        static __ktests_start: Test;
        static __ktests_end: Test;
    }
    // SAFETY: the linker script brackets the `.ktests` output section with these
    // symbols, and that section contains only `Test` statics emitted by `ktest!`
    // (8-aligned, `repr(C)`, no padding between them since each is a multiple of
    // its alignment). The memory is immutable for the life of the kernel.
    unsafe {
        let start = &raw const __ktests_start;
        let end = &raw const __ktests_end;
        let bytes = (end as usize).saturating_sub(start as usize);
        core::slice::from_raw_parts(start, bytes / core::mem::size_of::<Test>())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn passes() -> TestResult {
        let two = std::hint::black_box(2);
        check!(two + 1 == 3);
        check_eq!(3, 3);
        check_ne!(3, 4);
        Ok(())
    }

    fn fails_eq() -> TestResult {
        check_eq!(2 + 2, 5);
        Ok(())
    }

    fn fails_check_with_message() -> TestResult {
        let frames = 7;
        check!(frames == 0, "{frames} frames leaked");
        Ok(())
    }

    #[test]
    fn checks_pass_and_fail_with_location_and_values() {
        assert!(passes().is_ok());
        let failure = fails_eq().unwrap_err();
        assert!(failure.file.ends_with("lib.rs"));
        assert!(failure.message().contains("2 + 2 == 5"), "{failure}");
        assert!(failure.message().ends_with("left 4, right 5"), "{failure}");
        assert_eq!(
            fails_check_with_message().unwrap_err().message(),
            "7 frames leaked"
        );
        assert!(!fails_eq().unwrap_err().skipped);
    }

    fn needs_nesting() -> TestResult {
        skip!("ECAP.NEST is {}", 0);
    }

    #[test]
    fn skips_are_told_apart_from_failures() {
        let s = needs_nesting().unwrap_err();
        assert!(s.skipped);
        assert_eq!(s.message(), "ECAP.NEST is 0");
    }
}
