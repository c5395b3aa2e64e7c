//! The fuzz harness's short runs: a few thousand pseudo-random scenarios
//! from a fixed seed, and every input a fuzzing run found (the corpus of
//! findings in `fuzz/findings`), so the workspace tests keep both honest.
//! `VSVA_FUZZ_SHORT=n` runs n pseudo-random scenarios instead of 2000.

use std::path::Path;

use vsva_sva::fuzz::{Outcome, run};

/// SplitMix64: a fixed seed gives the same inputs on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn input(&mut self) -> Vec<u8> {
        let len = 16 + (self.next() % 1024) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn total(a: Outcome, b: Outcome) -> Outcome {
    Outcome {
        steps: a.steps + b.steps,
        calls: a.calls + b.calls,
        calls_ok: a.calls_ok + b.calls_ok,
        binds: a.binds + b.binds,
        dma: a.dma + b.dma,
        dma_ok: a.dma_ok + b.dma_ok,
        requests: a.requests + b.requests,
        records: a.records + b.records,
        removals: a.removals + b.removals,
        quarantines: a.quarantines + b.quarantines,
        kept_pages: a.kept_pages + b.kept_pages,
    }
}

/// Every input that once broke a property holds now.
#[test]
fn the_findings_hold() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .expect("fuzz/findings")
        .map(|e| e.expect("a finding").path())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no findings in {}", dir.display());
    for path in inputs {
        let data = std::fs::read(&path).expect("a finding's bytes");
        if let Err(v) = run(&data) {
            panic!("{}: {v}", path.display());
        }
    }
}

#[test]
fn pseudo_random_scenarios_hold() {
    let count: usize = std::env::var("VSVA_FUZZ_SHORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rng = Rng(0x5eed_0014);
    let mut sum = Outcome::default();
    for i in 0..count {
        let data = rng.input();
        match run(&data) {
            Ok(out) => sum = total(sum, out),
            Err(v) => panic!(
                "scenario {i} ({} bytes): {v}\ninput: {data:02x?}",
                data.len()
            ),
        }
    }
    eprintln!("{count} scenarios: {sum:?}");
    // The scenarios reach what they check.
    if count >= 2000 {
        assert!(
            sum.binds > 0 && sum.dma_ok > 0 && sum.records > 0,
            "{sum:?}"
        );
        assert!(sum.removals > count && sum.quarantines > 0, "{sum:?}");
    }
}
