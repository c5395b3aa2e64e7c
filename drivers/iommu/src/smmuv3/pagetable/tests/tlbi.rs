//! TLB invalidation commands for unmapped ranges: range TLBIs (SMMU_IDR3.RIL) in O(log N)
//! commands, per-page or whole-ASID/VMID ones without.

use super::*;

fn ranges_of(cmds: &[TlbiCommand], g: Granule) -> Vec<(u64, u64)> {
    cmds.iter()
        .map(|c| match c {
            TlbiCommand::Va(v) => (v.addr, v.len(g)),
            TlbiCommand::All => (0, u64::MAX),
        })
        .collect()
}

#[test]
fn range_invalidation_costs_log_n_commands() {
    for g in [Granule::Size4K, Granule::Size16K, Granule::Size64K] {
        let cfg = TlbiConfig {
            granule: g,
            ril: true,
            max_commands: 64,
        };
        let mut n: u64 = 1;
        while n < 1 << 36 {
            for pages in [n, n + 1, n * 3 + 7, n.saturating_mul(31) | 1] {
                if pages > (1 << 48) / g.bytes() {
                    continue;
                }
                let start = 0x1234 * g.bytes();
                let r = IovaRange {
                    start,
                    len: pages * g.bytes(),
                };
                let cmds = tlbi_commands(&[r], true, cfg);
                let bits = 64 - pages.leading_zeros() as usize;
                assert!(
                    cmds.len() <= bits.div_ceil(5) + 1,
                    "{pages} pages took {} commands",
                    cmds.len()
                );
                // The commands tile the range exactly, in order.
                let mut at = start;
                for c in &cmds {
                    let TlbiCommand::Va(v) = *c else {
                        panic!("no fallback expected")
                    };
                    assert_eq!(v.addr, at);
                    assert_eq!(v.tg, g.tlbi_tg());
                    assert!(v.num < 32 && v.scale < 32 && v.leaf && v.ttl == 0);
                    at += v.len(g);
                }
                assert_eq!(at, r.end());
            }
            n *= 3;
        }
    }
    // 1 GiB of 4 KiB pages: one command, NUM = 0, SCALE = 18.
    let cfg = TlbiConfig {
        granule: Granule::Size4K,
        ril: true,
        max_commands: 64,
    };
    let cmds = tlbi_commands(&[IovaRange { start: G1, len: G1 }], false, cfg);
    assert_eq!(
        cmds,
        [TlbiCommand::Va(TlbiVa {
            addr: G1,
            tg: 1,
            num: 0,
            scale: 18,
            ttl: 0,
            leaf: false
        })]
    );
    // The whole 48-bit space: 2^36 pages, SCALE capped at 31, two commands of 32 units.
    let all = IovaRange {
        start: 0,
        len: 1 << 48,
    };
    let cmds = tlbi_commands(&[all], false, cfg);
    assert_eq!(
        ranges_of(&cmds, Granule::Size4K),
        [(0, 1 << 47), (1 << 47, 1 << 47)]
    );
}

#[test]
fn without_ril_small_ranges_go_per_page_and_large_ones_whole() {
    let cfg = TlbiConfig {
        granule: Granule::Size4K,
        ril: false,
        max_commands: 16,
    };
    let r = [
        IovaRange {
            start: 0,
            len: 3 * K4,
        },
        IovaRange { start: M2, len: K4 },
    ];
    let cmds = tlbi_commands(&r, true, cfg);
    assert_eq!(
        ranges_of(&cmds, Granule::Size4K),
        [(0, K4), (K4, K4), (2 * K4, K4), (M2, K4)]
    );
    assert!(
        cmds.iter()
            .all(|c| matches!(c, TlbiCommand::Va(v) if v.tg == 0 && v.leaf))
    );
    for pages in [17, 1000, 1 << 20, 1 << 36] {
        let r = IovaRange {
            start: 0,
            len: pages * K4,
        };
        assert_eq!(tlbi_commands(&[r], true, cfg), [TlbiCommand::All]);
    }
    // The budget counts across ranges, with RIL too.
    let many: Vec<IovaRange> = (0..20)
        .map(|i| IovaRange {
            start: i * M2,
            len: K4,
        })
        .collect();
    assert_eq!(tlbi_commands(&many, true, cfg), [TlbiCommand::All]);
    let ril = TlbiConfig { ril: true, ..cfg };
    assert_eq!(tlbi_commands(&many, true, ril), [TlbiCommand::All]);
    assert_eq!(tlbi_commands(&many[..16], true, ril).len(), 16);
    // From an invalidation, with QEMU's IDR3 (RIL set).
    let m = mem();
    let mut t = s1(&m, Granule::Size4K, 48);
    let _ = t.map(&m, 0, 0, 64 * K4, Attributes::dma(RW)).unwrap();
    let inv = t.unmap(&m, 0, 64 * K4).unwrap();
    let qemu = TlbiConfig::new(Granule::Size4K, crate::smmuv3::regs::Idr3::new(0x1414));
    assert!(qemu.ril);
    let cmds = inv.tlbi_commands(qemu);
    assert_eq!(ranges_of(&cmds, Granule::Size4K), [(0, 64 * K4)]);
    assert!(
        matches!(cmds[0], TlbiCommand::Va(v) if !v.leaf),
        "tables were freed"
    );
    inv.finish(&m);
}
