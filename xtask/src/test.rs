//! `cargo xtask test`: host unit tests of every crate, then the in-kernel tests
//! on each architecture, added up into one `N passed, N failed` line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::arch::{Arch, Firmware};
use crate::kernel::{self, Flavor};
use crate::qemu::{self, IommuConfig, Outcome, RunConfig};

/// Counts from one suite.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    /// In-kernel tests that did not apply to the QEMU configuration they ran in
    /// (another configuration of the suite runs them).
    pub skipped: usize,
}

impl Tally {
    /// A suite that could not run at all counts as one failure.
    const RUN_FAILED: Tally = Tally {
        passed: 0,
        failed: 1,
        skipped: 0,
    };

    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Sums libtest's `test result: ok. 12 passed; 0 failed; ...` lines.
pub fn parse_libtest(lines: &[String]) -> (Tally, usize) {
    let mut tally = Tally::default();
    let mut binaries = 0;
    for line in lines {
        let Some(rest) = line.trim().strip_prefix("test result: ") else {
            continue;
        };
        binaries += 1;
        for part in rest.split([';', '.']) {
            let mut words = part.split_whitespace();
            if let (Some(n), Some(what)) = (words.next(), words.next()) {
                match (n.parse::<usize>(), what) {
                    (Ok(n), "passed") => tally.passed += n,
                    (Ok(n), "failed") => tally.failed += n,
                    _ => {}
                }
            }
        }
    }
    (tally, binaries)
}

/// Counts the kernel's `test NAME ... ok|FAILED` lines, and turns a run that did
/// not finish its tests into failures: tests announced by `running N tests` but
/// never reported failed with the run, and a crash or hang counts at least once.
pub fn tally_kernel(lines: &[String], outcome: &Outcome) -> Tally {
    let mut tally = Tally::default();
    let mut announced = None;
    for line in lines {
        if let Some(n) = line
            .strip_prefix("running ")
            .and_then(|r| r.strip_suffix(" tests"))
        {
            announced = n.trim().parse::<usize>().ok();
        }
        if let Some(rest) = line.strip_prefix("test ") {
            if rest.ends_with(" ... ok") {
                tally.passed += 1;
            } else if rest.contains(" ... FAILED") {
                tally.failed += 1;
            } else if rest.contains(" ... skipped") {
                tally.skipped += 1;
            }
        }
    }
    let reported = tally.passed + tally.failed + tally.skipped;
    if let Some(n) = announced
        && n > reported
    {
        tally.failed += n - reported;
    }
    let clean = matches!(outcome, Outcome::Success) && announced.is_some();
    let inconsistent = matches!(outcome, Outcome::TestsFailed) && tally.failed == 0;
    if (!clean || inconsistent) && tally.failed == 0 {
        tally.failed = 1;
    }
    tally
}

/// What to run.
#[derive(Debug, Clone)]
pub struct TestPlan {
    pub arches: Vec<Arch>,
    pub firmwares: Vec<Firmware>,
    pub host: bool,
    pub kernel: bool,
    pub filter: Option<String>,
    pub release: bool,
    pub run: RunConfig,
}

/// Runs the plan; returns the grand total (the final line is printed here).
pub fn run(plan: &TestPlan) -> Tally {
    let mut total = Tally::default();
    let mut summary = Vec::new();
    if plan.host {
        let t = host_tests(plan.filter.as_deref());
        summary.push(format!("host unit tests: {t}"));
        total.add(t);
    }
    if plan.kernel {
        for (arch, firmware, iommu) in kernel_runs(plan) {
            let t = kernel_tests(arch, firmware, iommu, plan);
            summary.push(format!(
                "{arch} in-kernel tests ({firmware} boot, {iommu}): {t}"
            ));
            total.add(t);
        }
    }
    // Instruction counts under -icount, with the whole suite (not a filtered
    // run): deterministic, so a generous bound catches regressions.
    if plan.kernel && plan.filter.is_none() && plan.firmwares.contains(&Firmware::Direct) {
        for &arch in &plan.arches {
            let t = icount_tests(arch);
            summary.push(format!(
                "{arch} instruction counts (-icount, at most {}x benches/icount.tsv): {t}",
                crate::bench::ICOUNT_BOUND
            ));
            total.add(t);
        }
    }
    println!();
    for line in summary {
        println!("xtask: {line}");
    }
    println!("{total}");
    total
}

/// Boots the bench partition on `arch` under `-icount` and holds each
/// figure to `benches/icount.tsv`: one test per figure.
fn icount_tests(arch: Arch) -> Tally {
    println!("xtask: {arch}: instruction counts under QEMU -icount (benches/partitions.toml)");
    let path = kernel::workspace_root().join("benches").join("icount.tsv");
    let bench = format!("qemu-{arch}");
    let baseline = std::fs::read_to_string(&path)
        .map_err(|e| format!("reading {}: {e}", path.display()))
        .and_then(|text| crate::bench::icount_baseline(&text, &bench));
    let figures = baseline.and_then(|b| Ok((crate::bench::guest_figures(arch)?, b)));
    match figures {
        Ok((figures, baseline)) => {
            let mut tally = Tally::default();
            for (line, ok) in crate::bench::icount_check(&baseline, &figures) {
                println!(
                    "test {bench}: {line} ... {}",
                    if ok { "ok" } else { "FAILED" }
                );
                if ok {
                    tally.passed += 1;
                } else {
                    tally.failed += 1;
                }
            }
            tally
        }
        Err(e) => {
            println!("xtask: {arch}: {e}");
            Tally::RUN_FAILED
        }
    }
}

/// The QEMU configurations the kernel tests run in: each architecture with
/// each boot path, plus, on x86_64 (direct boot), the other intel-iommu modes:
/// QEMU offers second-stage translation in scalable mode only without x-flts,
/// and legacy mode only without scalable mode.
fn kernel_runs(plan: &TestPlan) -> Vec<(Arch, Firmware, IommuConfig)> {
    let mut runs = Vec::new();
    for &arch in &plan.arches {
        for &firmware in &plan.firmwares {
            runs.push((arch, firmware, IommuConfig::Default));
        }
        if arch == Arch::X86_64 && plan.firmwares.contains(&Firmware::Direct) {
            runs.push((arch, Firmware::Direct, IommuConfig::VtdScalableSecondStage));
            runs.push((arch, Firmware::Direct, IommuConfig::VtdLegacy));
        }
        if arch == Arch::Aarch64 && plan.firmwares.contains(&Firmware::Direct) {
            runs.push((arch, Firmware::Direct, IommuConfig::SmmuLinear));
        }
    }
    runs
}

fn host_tests(filter: Option<&str>) -> Tally {
    println!("xtask: host unit tests (cargo test --workspace)");
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(kernel::workspace_root())
        .args(["test", "--workspace", "--no-fail-fast"]);
    if let Some(f) = filter {
        cargo.args(["--", f]);
    }
    let mut child = match cargo.stdout(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("xtask: cannot run cargo test: {e}");
            return Tally::RUN_FAILED;
        }
    };
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let Ok(line) = line else { break };
        println!("{line}");
        lines.push(line);
    }
    let status = child.wait();
    let (mut tally, binaries) = parse_libtest(&lines);
    let ok = status.as_ref().is_ok_and(|s| s.success());
    if (!ok || binaries == 0) && tally.failed == 0 {
        // A build failure or a crashed test binary reports no failed test.
        eprintln!("xtask: cargo test failed without a test failure ({status:?})");
        tally.failed = 1;
    }
    tally
}

fn kernel_tests(arch: Arch, firmware: Firmware, iommu: IommuConfig, plan: &TestPlan) -> Tally {
    println!("xtask: {arch} in-kernel tests ({firmware} boot, {iommu})");
    let mut config = plan.run.clone();
    config.iommu = iommu;
    config.cmdline = format!("{} {}", config.cmdline, iommu.cmdline())
        .trim()
        .to_string();
    if let Some(f) = &plan.filter {
        config.cmdline = format!("{} vsva.test={f}", config.cmdline)
            .trim()
            .to_string();
    }
    let kernel =
        match kernel::build_for(arch, firmware, Flavor::Test, plan.release, &config.cmdline) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("xtask: {e}");
                return Tally::RUN_FAILED;
            }
        };
    match qemu::run(&kernel, &config) {
        Ok(result) => {
            if !result.outcome.is_success() {
                println!("xtask: {arch} kernel {}", result.outcome.describe());
            }
            tally_kernel(&result.lines, &result.outcome)
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            Tally::RUN_FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn libtest_summaries_are_summed() {
        let out = lines(
            "running 3 tests\ntest a ... ok\n\
             test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
             test result: FAILED. 5 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out\n",
        );
        assert_eq!(
            parse_libtest(&out),
            (
                Tally {
                    passed: 8,
                    failed: 2,
                    skipped: 0,
                },
                2
            )
        );
    }

    #[test]
    fn a_clean_kernel_run_counts_its_tests() {
        let out = lines("running 2 tests\ntest a ... ok\ntest b ... ok\n2 passed, 0 failed");
        assert_eq!(
            tally_kernel(&out, &Outcome::Success),
            Tally {
                passed: 2,
                failed: 0,
                skipped: 0,
            }
        );
    }

    #[test]
    fn skipped_tests_are_counted_apart_and_complete_the_announced_list() {
        let out = lines(
            "running 3 tests\ntest a ... ok\ntest b ... skipped (ECAP.NEST is 0)\ntest c ... ok\n2 passed, 0 failed, 1 skipped",
        );
        let t = tally_kernel(&out, &Outcome::Success);
        assert_eq!((t.passed, t.failed, t.skipped), (2, 0, 1));
        assert_eq!(t.to_string(), "2 passed, 0 failed, 1 skipped");
    }

    #[test]
    fn a_crash_fails_the_running_test_and_those_never_run() {
        let out = lines(
            "running 4 tests\ntest a ... ok\n*** kernel panic at x.rs:1:1: boom\ntest b ... FAILED (crashed)",
        );
        let crash = Outcome::Crash {
            reason: "boom".into(),
        };
        assert_eq!(
            tally_kernel(&out, &crash),
            Tally {
                passed: 1,
                failed: 3,
                skipped: 0,
            }
        );
    }

    #[test]
    fn runs_that_end_badly_never_count_as_clean() {
        let none = lines("vsva 0.1.0");
        for outcome in [
            Outcome::Reset,
            Outcome::Timeout(std::time::Duration::from_secs(1)),
            Outcome::QemuFailed("abort".into()),
            Outcome::TestsFailed,
            // Success without a test list: the image ran no tests at all.
            Outcome::Success,
        ] {
            assert_eq!(tally_kernel(&none, &outcome).failed, 1, "{outcome:?}");
        }
        let out = lines("running 1 tests\ntest a ... ok\n1 passed, 0 failed");
        assert_eq!(
            tally_kernel(&out, &Outcome::TestsFailed),
            Tally {
                passed: 1,
                failed: 1,
                skipped: 0,
            }
        );
    }
}
