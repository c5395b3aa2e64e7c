//! The `log` facade's backend: every record goes to the console with the time
//! since boot, e.g. `[    0.012345] INFO  memory: 255 MiB usable`.
#![deny(unsafe_code)]

use core::fmt;

/// Seconds and microseconds since boot, right-aligned like a kernel log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub u64);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0 / 1_000;
        write!(f, "[{:>5}.{:06}]", micros / 1_000_000, micros % 1_000_000)
    }
}

/// Writes one log line (without the trailing newline) for a record.
pub fn format_record(
    out: &mut dyn fmt::Write,
    now_nanos: u64,
    level: log::Level,
    target: &str,
    args: &fmt::Arguments<'_>,
) -> fmt::Result {
    write!(out, "{} {:<5} ", Timestamp(now_nanos), level)?;
    // Records from the kernel itself carry its crate name as target: leave it out.
    if target != "vsva_kernel" && !target.starts_with("vsva_kernel::") {
        write!(out, "{target}: ")?;
    }
    out.write_fmt(*args)
}

#[cfg(target_os = "none")]
pub use bare::init;

#[cfg(target_os = "none")]
mod bare {
    use core::fmt::Write;

    use log::{LevelFilter, Log, Metadata, Record};

    use crate::arch;

    struct Logger;

    static LOGGER: Logger = Logger;

    impl Log for Logger {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.level() <= log::max_level()
        }

        fn log(&self, record: &Record<'_>) {
            if !self.enabled(record.metadata()) {
                return;
            }
            let now = arch::time::uptime_nanos();
            let mut console = arch::console::lock();
            // A console write cannot fail; an error from a Display impl cuts the line.
            let _ = super::format_record(
                &mut *console,
                now,
                record.level(),
                record.target(),
                record.args(),
            );
            let _ = console.write_str("\n");
        }

        fn flush(&self) {}
    }

    /// Installs the logger; the console must be up.
    pub fn init(level: LevelFilter) {
        // Only fails when called twice, which leaves the first logger in place.
        let _ = log::set_logger(&LOGGER);
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_seconds_and_microseconds() {
        assert_eq!(Timestamp(0).to_string(), "[    0.000000]");
        assert_eq!(Timestamp(1_234_567_891).to_string(), "[    1.234567]");
        assert_eq!(
            Timestamp(123_456_000_000_000).to_string(),
            "[123456.000000]"
        );
    }

    #[test]
    fn records_carry_time_level_and_foreign_targets() {
        let mut s = String::new();
        format_record(
            &mut s,
            5_000,
            log::Level::Warn,
            "vsva_kernel::mem",
            &format_args!("low {}", 1),
        )
        .unwrap();
        assert_eq!(s, "[    0.000005] WARN  low 1");
        let mut s = String::new();
        format_record(
            &mut s,
            0,
            log::Level::Info,
            "vsva_iommu::vtd",
            &format_args!("x"),
        )
        .unwrap();
        assert_eq!(s, "[    0.000000] INFO  vsva_iommu::vtd: x");
    }
}
