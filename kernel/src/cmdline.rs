//! The kernel command line: `key=value` words separated by spaces.
#![deny(unsafe_code)]

use log::LevelFilter;

/// What a fault-injection option asks the test image to do, so that the harness
/// can show it reports each way a kernel dies (see xtask's harness tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inject {
    /// `panic!` after the tests have been collected.
    Panic,
    /// Execute an undefined instruction.
    Exception,
    /// Write to an address the kernel's tables do not map.
    PageFault,
    /// Spin forever with interrupts masked.
    Hang,
    /// Reset or power the machine off without the exit device: a triple fault
    /// on x86_64, PSCI SYSTEM_OFF on aarch64.
    Reset,
}

/// Options vsva understands; unknown words are ignored (and logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a> {
    pub log_level: LevelFilter,
    /// `vsva.test=NAME`: run only tests whose name contains NAME.
    pub test_filter: Option<&'a str>,
    /// `vsva.inject=panic|exception|pagefault|hang|reset`.
    pub inject: Option<Inject>,
    /// `vsva.smmu=linear`: give SMMUs a linear stream table rather than 2-level.
    pub smmu_linear: bool,
    /// `vsva.bench`: print the boot figure `cargo xtask bench` collects.
    pub bench: bool,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            log_level: LevelFilter::Info,
            test_filter: None,
            inject: None,
            smmu_linear: false,
            bench: false,
        }
    }
}

/// A word the parser did not accept, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ignored<'a>(pub &'a str);

/// Parses `cmdline`; `ignored` receives every word that was not understood.
pub fn parse<'a>(cmdline: &'a str, mut ignored: impl FnMut(Ignored<'a>)) -> Options<'a> {
    let mut options = Options::default();
    for word in cmdline.split_ascii_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            "loglevel" => match value.parse() {
                Ok(level) => options.log_level = level,
                Err(_) => ignored(Ignored(word)),
            },
            "vsva.test" if !value.is_empty() => options.test_filter = Some(value),
            "vsva.smmu" if value == "linear" => options.smmu_linear = true,
            "vsva.bench" if value.is_empty() => options.bench = true,
            "vsva.inject" => match value {
                "panic" => options.inject = Some(Inject::Panic),
                "exception" => options.inject = Some(Inject::Exception),
                "pagefault" => options.inject = Some(Inject::PageFault),
                "hang" => options.inject = Some(Inject::Hang),
                "reset" => options.inject = Some(Inject::Reset),
                _ => ignored(Ignored(word)),
            },
            _ => ignored(Ignored(word)),
        }
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_unknown_words_are_reported() {
        let mut seen = Vec::new();
        let o = parse(
            "loglevel=debug  vsva.test=frames foo vsva.inject=hang loglevel=loud",
            |w| seen.push(w.0),
        );
        assert_eq!(o.log_level, LevelFilter::Debug);
        assert_eq!(o.test_filter, Some("frames"));
        assert_eq!(o.inject, Some(Inject::Hang));
        assert_eq!(seen, ["foo", "loglevel=loud"]);
    }

    #[test]
    fn empty_command_line_gives_defaults() {
        let o = parse("", |w| panic!("unexpected {w:?}"));
        assert_eq!(o, Options::default());
        assert_eq!(
            parse("vsva.inject=reset", |_| {}).inject,
            Some(Inject::Reset)
        );
        let o = parse("vsva.test= vsva.inject=sideways", |_| {});
        assert_eq!(o.test_filter, None);
        assert_eq!(o.inject, None);
        assert!(parse("vsva.bench", |_| {}).bench);
        assert!(!parse("vsva.bench=no", |_| {}).bench);
    }
}
