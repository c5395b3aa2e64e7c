//! `cargo xtask bench`: runs vsva's benchmarks and prints every figure in
//! one table, each next to the baseline measured in the same run and the
//! ratio between them, with how it was measured.
//!
//! A bench reports its figures as tab-separated lines on its output
//! (`figure`, bench, what, value, unit, baseline name, baseline value, how;
//! see `drivers/iommu/benches/common`), so adding a bench is adding its name
//! to [`HOST_BENCHES`]. The in-QEMU figures come from the reference guest's
//! `bench` word (`benches/partitions.toml`), booted on both machines under
//! `-icount shift=0`: instructions, the same in every run; the same image
//! booted once more under plain TCG gives the wall time to the first guest
//! instruction (host time, so it varies from run to run).

use std::process::Command;
use std::time::Duration;

use crate::arch::Arch;
use crate::kernel::{self, Flavor};
use crate::qemu::{self, Accel, IommuConfig, RunConfig};

/// The host benches: (package, bench target).
const HOST_BENCHES: [(&str, &str); 2] = [
    ("vsva-iommu", "pagetable"),
    ("vsva-iommu", "smmu_pagetable"),
];

/// One figure.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub bench: String,
    pub what: String,
    pub value: f64,
    pub unit: String,
    /// The baseline's name and value, in the same unit.
    pub baseline: Option<(String, f64)>,
    pub how: String,
}

impl Figure {
    /// Value over baseline (below 1: faster than the baseline).
    pub fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .and_then(|(_, b)| (*b > 0.0).then(|| self.value / b))
    }
}

/// The `figure` lines of a bench's output; other lines are ignored, and a
/// malformed figure line is an error naming it.
pub fn parse_figures(output: &str) -> Result<Vec<Figure>, String> {
    let mut figures = Vec::new();
    // A guest's lines come with the kernel's log prefix before `figure`.
    for line in output
        .lines()
        .filter_map(|l| l.find("figure\t").map(|at| &l[at..]))
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [_, bench, what, value, unit, base_name, base_value, how] = fields[..] else {
            return Err(format!("malformed figure line: {line:?}"));
        };
        let number = |s: &str| {
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("not a number in figure line: {line:?}"))
        };
        let baseline = if base_name.is_empty() {
            None
        } else {
            Some((base_name.to_string(), number(base_value)?))
        };
        figures.push(Figure {
            bench: bench.to_string(),
            what: what.to_string(),
            value: number(value)?,
            unit: unit.to_string(),
            baseline,
            how: how.to_string(),
        });
    }
    Ok(figures)
}

/// The table: one row per figure, then how each group was measured.
pub fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<62} {:>10} {:<11} | {:<22} {:>10} | {:>7}\n",
        "bench: figure", "value", "unit", "baseline (same run)", "value", "ratio"
    );
    out.push_str(&format!("{}\n", "-".repeat(132)));
    for f in figures {
        let (base, base_value) = f
            .baseline
            .as_ref()
            .map_or(("-".to_string(), "-".to_string()), |(n, v)| {
                (n.clone(), format!("{v:.2}"))
            });
        let ratio = f.ratio().map_or("-".to_string(), |r| format!("{r:.2}x"));
        out.push_str(&format!(
            "{:<62} {:>10.2} {:<11} | {:<22} {:>10} | {:>7}\n",
            format!("{}: {}", f.bench, f.what),
            f.value,
            f.unit,
            base,
            base_value,
            ratio
        ));
    }
    let mut hows: Vec<(&str, &str)> = figures
        .iter()
        .map(|f| (f.bench.as_str(), f.how.as_str()))
        .collect();
    hows.dedup();
    for (bench, how) in hows {
        out.push_str(&format!("{bench}: {how}\n"));
    }
    out
}

/// Runs every bench and prints the table.
pub fn run() -> Result<(), String> {
    let mut figures = Vec::new();
    for (package, bench) in HOST_BENCHES {
        println!("xtask: cargo bench -p {package} --bench {bench}");
        let output = Command::new(env!("CARGO"))
            .current_dir(kernel::workspace_root())
            .args(["bench", "-p", package, "--bench", bench])
            .output()
            .map_err(|e| format!("cargo bench: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo bench -p {package} --bench {bench} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let found = parse_figures(&String::from_utf8_lossy(&output.stdout))?;
        if found.is_empty() {
            return Err(format!("{bench} reported no figures"));
        }
        figures.extend(found);
    }
    for arch in Arch::ALL {
        println!("xtask: {arch}: the bench partition under QEMU -icount shift=0");
        figures.extend(guest_figures(arch)?);
        println!("xtask: {arch}: boot under plain TCG, for wall time");
        figures.push(boot_wall_time(arch)?);
    }
    print!("{}", table(&figures));
    Ok(())
}

/// Builds the bench image (release) for `arch` and boots it under TCG with
/// `vsva.bench` and the extra QEMU arguments.
fn boot_bench(arch: Arch, extra_args: Vec<String>) -> Result<qemu::RunResult, String> {
    let kernel = kernel::build(arch, Flavor::Bench, true)?;
    let config = RunConfig {
        accel: Accel::Tcg,
        cmdline: format!("{} vsva.bench", IommuConfig::Default.cmdline())
            .trim()
            .to_string(),
        timeout: Some(Duration::from_secs(600)),
        gdb: false,
        echo: false,
        extra_args,
        iommu: IommuConfig::Default,
    };
    qemu::run(&kernel, &config)
}

/// The figure line vsva prints as it enters the first guest.
const FIRST_GUEST: &str = "vsva's entry to the first guest instruction";

/// Boots the bench image on `arch` under plain TCG (no -icount) and reports
/// the host wall time from QEMU's start to vsva's entry to the first guest
/// (the line vsva prints there), against the time to vsva's first line
/// (QEMU's start-up and firmware).
pub fn boot_wall_time(arch: Arch) -> Result<Figure, String> {
    let result = boot_bench(arch, Vec::new())?;
    if !result.outcome.is_success() {
        return Err(format!(
            "{arch}: the plain TCG boot {}",
            result.outcome.describe()
        ));
    }
    wall_time_figure(arch, &result.lines, &result.arrivals)
}

/// The wall-time figure from a run's lines and their arrival times.
fn wall_time_figure(arch: Arch, lines: &[String], arrivals: &[Duration]) -> Result<Figure, String> {
    let at = |i: usize| arrivals.get(i).map(|d| d.as_secs_f64() * 1e3);
    // vsva's log lines carry its uptime in brackets; firmware text and blank
    // lines before them do not count.
    let first = lines
        .iter()
        .position(|l| l.starts_with('['))
        .and_then(at)
        .ok_or(format!("{arch}: vsva printed nothing"))?;
    let guest = lines
        .iter()
        .position(|l| l.contains(FIRST_GUEST))
        .and_then(at)
        .ok_or(format!("{arch}: no first-guest line"))?;
    Ok(Figure {
        bench: format!("qemu-{arch}"),
        what: "TCG wall time to the first guest instruction".to_string(),
        value: guest,
        unit: "ms".to_string(),
        baseline: Some(("QEMU start to vsva's first line".to_string(), first)),
        how: "QEMU TCG without -icount, host wall time from QEMU's start (varies run to run)"
            .to_string(),
    })
}

/// How much a figure may grow over `benches/icount.tsv` before
/// `cargo xtask test` fails: generous, as the counts are instructions, the
/// same from run to run (within about 0.5%), and only a real regression
/// doubles one.
pub const ICOUNT_BOUND: f64 = 2.0;

/// The instruction counts `benches/icount.tsv` holds for `bench`:
/// (figure, instructions). Comment lines start with `#`.
pub fn icount_baseline(text: &str, bench: &str) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split('\t').collect();
        let [b, what, value] = fields[..] else {
            return Err(format!("benches/icount.tsv: malformed line {line:?}"));
        };
        let value: f64 = value
            .parse()
            .map_err(|_| format!("benches/icount.tsv: not a number in {line:?}"))?;
        if b == bench {
            out.push((what.to_string(), value));
        }
    }
    Ok(out)
}

/// Checks `figures` against `baseline`: one line per figure, whether it is
/// within [`ICOUNT_BOUND`] of its baseline (a missing figure fails).
pub fn icount_check(baseline: &[(String, f64)], figures: &[Figure]) -> Vec<(String, bool)> {
    baseline
        .iter()
        .map(|(what, base)| match figures.iter().find(|f| &f.what == what) {
            Some(f) if f.value <= base * ICOUNT_BOUND => (
                format!("{what}: {:.0} instructions (baseline {base:.0})", f.value),
                true,
            ),
            Some(f) => (
                format!(
                    "{what}: {:.0} instructions, more than {ICOUNT_BOUND}x the baseline {base:.0}",
                    f.value
                ),
                false,
            ),
            None => (format!("{what}: not measured"), false),
        })
        .collect()
}

/// Boots the bench image (release) on `arch` with `-icount shift=0` and
/// collects the figures its guest prints.
pub fn guest_figures(arch: Arch) -> Result<Vec<Figure>, String> {
    let icount = ["-icount", "shift=0,sleep=off"].map(String::from).to_vec();
    let result = boot_bench(arch, icount)?;
    let figures = parse_figures(&result.lines.join("\n"))?;
    if !result.outcome.is_success() || figures.is_empty() {
        let tail = result.lines.iter().rev().take(15).rev().cloned();
        return Err(format!(
            "{arch}: the bench partition {} with {} figures; its last lines:\n{}",
            result.outcome.describe(),
            figures.len(),
            tail.collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_lines_are_read_and_the_rest_ignored() {
        let out = "a table\nfigure\tpagetable\tmap 4 KiB\t35.90\tns/page\tx86_64\t5.20\thost\n\
                   [    3.1] INFO  [bench] figure\tq\tboot\t1200\tinsns\t\t\ticount\ntrailer\n";
        let figures = parse_figures(out).unwrap();
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].what, "map 4 KiB");
        assert_eq!(figures[0].baseline, Some(("x86_64".into(), 5.2)));
        assert!((figures[0].ratio().unwrap() - 35.9 / 5.2).abs() < 1e-9);
        assert_eq!(figures[1].baseline, None);
        assert_eq!(figures[1].ratio(), None);
        let t = table(&figures);
        assert!(t.contains("6.90x"), "{t}");
        assert!(t.contains("pagetable: host"), "{t}");
    }

    #[test]
    fn instruction_counts_are_held_to_twice_their_baseline() {
        let text = "# comment\nqemu-a\tnull\t100\nqemu-a\tbind\t1000\nqemu-b\tnull\t7\n";
        let base = icount_baseline(text, "qemu-a").unwrap();
        assert_eq!(base, [("null".into(), 100.0), ("bind".into(), 1000.0)]);
        let fig = |what: &str, value| Figure {
            bench: "qemu-a".into(),
            what: what.into(),
            value,
            unit: "insns".into(),
            baseline: None,
            how: String::new(),
        };
        let verdicts = icount_check(&base, &[fig("null", 200.0), fig("bind", 2001.0)]);
        assert_eq!(
            verdicts.iter().map(|v| v.1).collect::<Vec<_>>(),
            [true, false]
        );
        // A figure the run did not print fails too.
        assert!(!icount_check(&base, &[fig("null", 1.0)])[1].1);
        assert!(icount_baseline("qemu-a\tnull\n", "qemu-a").is_err());
    }

    #[test]
    fn wall_time_is_read_at_the_first_guest_line() {
        let lines = [
            "",
            "[    0.000187] INFO  x86_64 boot",
            "[    0.032] INFO  figure\tq\tvsva's entry to the first guest instruction\t9",
        ]
        .map(String::from);
        let ms = |n| Duration::from_millis(n);
        let f = wall_time_figure(Arch::X86_64, &lines, &[ms(100), ms(120), ms(450)]).unwrap();
        assert_eq!(f.value, 450.0);
        assert_eq!(
            f.baseline.unwrap().1,
            120.0,
            "vsva's first line, not the blank one"
        );
        assert!(wall_time_figure(Arch::X86_64, &lines[..2], &[ms(1), ms(2)]).is_err());
    }

    #[test]
    fn malformed_figure_lines_are_errors() {
        assert!(parse_figures("figure\tonly\tthree").is_err());
        assert!(parse_figures("figure\tb\tw\tNaN\tns\t\t\th").is_err());
        assert!(parse_figures("figure\tb\tw\t1\tns\tbase\tx\th").is_err());
        // A zero baseline gives no ratio rather than infinity.
        let f = parse_figures("figure\tb\tw\t1\tns\tbase\t0\th").unwrap();
        assert_eq!(f[0].ratio(), None);
    }
}
