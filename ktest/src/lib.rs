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
//! records the location and a formatted message. A panic still fails the run (the
//! kernel's panic handler reports which test was running), but it ends the run.
#![no_std]

use core::fmt::{self, Write};

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

/// Capacity of a failure message; longer messages are cut, never dropped.
const MESSAGE_CAPACITY: usize = 200;

/// Why a test failed: where, and a formatted message.
pub struct Failure {
    pub file: &'static str,
    pub line: u32,
    message: [u8; MESSAGE_CAPACITY],
    len: usize,
}

impl Failure {
    /// Builds a failure from a message formatted at the failing check.
    pub fn new(file: &'static str, line: u32, args: fmt::Arguments<'_>) -> Self {
        let mut failure = Self {
            file,
            line,
            message: [0; MESSAGE_CAPACITY],
            len: 0,
        };
        // A full buffer is reported by the writer as an error; the cut text is kept.
        let _ = failure.write_fmt(args);
        failure
    }

    /// The message, cut at the capacity on a character boundary.
    pub fn message(&self) -> &str {
        let bytes = &self.message[..self.len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // Only the cut can leave a partial character at the end.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Write for Failure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MESSAGE_CAPACITY - self.len;
        let take = s.len().min(room);
        self.message[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        if take < s.len() {
            Err(fmt::Error)
        } else {
            Ok(())
        }
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
        // A failure carries its message inline (no heap in early boot); tests
        // are not a hot path, so its size does not matter.
        #[allow(clippy::result_large_err)]
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

/// Fails the test unless both values are equal; prints both.
#[macro_export]
macro_rules! check_eq {
    ($left:expr, $right:expr $(,)?) => {
        match (&$left, &$right) {
            (l, r) => {
                if !(*l == *r) {
                    return Err($crate::fail!(
                        "{} == {}: left {:#x?}, right {:#x?}",
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
                        "{} != {}: both {:#x?}",
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
#[allow(clippy::result_large_err)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

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
        assert!(failure.message().contains("0x4"), "{failure}");
        assert!(failure.message().contains("0x5"), "{failure}");
        assert_eq!(
            fails_check_with_message().unwrap_err().message(),
            "7 frames leaked"
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(150); // 300 bytes
        let failure = Failure::new("f.rs", 1, format_args!("{long}"));
        assert_eq!(failure.message().len(), MESSAGE_CAPACITY);
        assert!(failure.to_string().starts_with("f.rs:1: é"));
        let odd = std::format!("x{long}");
        let failure = Failure::new("f.rs", 1, format_args!("{odd}"));
        // 1 + 99 * 2 = 199 bytes fit; the 200th byte would split a character.
        assert_eq!(failure.message().len(), MESSAGE_CAPACITY - 1);
    }
}
