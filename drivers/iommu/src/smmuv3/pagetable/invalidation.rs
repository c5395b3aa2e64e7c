//! What a translation-table change leaves to invalidate, turned into SMMUv3 TLB
//! invalidation commands (SMMUv3 §4.4.1 TLBI_NH_VA, §4.4.2 TLBI_S2_IPA;
//! range invalidation when SMMU_IDR3.RIL, §6.3.4).

use alloc::vec;
use alloc::vec::Vec;

use super::{Granule, Invalidation, IovaRange};

impl Invalidation {
    /// The same invalidation for a table used as a CD's TTB1 with T1SZ `t1sz`: the table
    /// works on addresses below 2^(64 − T1SZ), while the TLB holds the upper-half
    /// addresses they stand for (every bit from 64 − T1SZ up set, SMMUv3 §5.4, Arm ARM
    /// D8.2.4), which TLBI_NH_VA must name.
    pub fn in_upper_half(self, t1sz: u8) -> Self {
        self.with_start_bits(!(u64::MAX >> (t1sz & 0x3f)))
    }

    /// The invalidation commands covering [`ranges`](Self::ranges): see [`tlbi_commands`].
    pub fn tlbi_commands(&self, config: TlbiConfig) -> Vec<TlbiCommand> {
        tlbi_commands(self.ranges(), self.leaf_only(), config)
    }
}

/// How to turn ranges into commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbiConfig {
    /// The table's granule (the TG of range commands, the step of per-address ones).
    pub granule: Granule,
    /// SMMU_IDR3.RIL: range invalidation is implemented (SMMUv3.2; QEMU sets it).
    pub ril: bool,
    /// The most address-based commands worth issuing: beyond it one whole-ASID / whole-VMID
    /// command is cheaper.
    pub max_commands: usize,
}

impl TlbiConfig {
    /// `granule` and RIL from SMMU_IDR3, with a budget of 64 commands.
    pub const fn new(granule: Granule, idr3: crate::smmuv3::regs::Idr3) -> Self {
        Self {
            granule,
            ril: idr3.ril(),
            max_commands: 64,
        }
    }
}

/// The address fields of one TLBI_NH_VA (stage 1: the caller adds ASID and VMID) or
/// TLBI_S2_IPA (stage 2: the caller adds the VMID) command (SMMUv3 §4.4.1, §4.4.2).
///
/// With `tg == 0` the command invalidates every entry that translates `addr`, whatever its
/// size. With `tg != 0` (only when SMMU_IDR3.RIL) it invalidates
/// `(num + 1) × 2^scale` granules of size `tg` from `addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbiVa {
    /// Address[63:12] (the command stores bits 63:12; here the full byte address).
    pub addr: u64,
    /// TG: 0 = single address, else the range granule ([`Granule::tlbi_tg`]).
    pub tg: u8,
    /// NUM[4:0]: the range is NUM + 1 units.
    pub num: u8,
    /// SCALE[4:0]: a unit is 2^SCALE granules.
    pub scale: u8,
    /// TTL: the level of the leaves, 0 = not known (always what this module gives).
    pub ttl: u8,
    /// Leaf: only leaf entries (last level) need invalidating; walk caches may be kept.
    pub leaf: bool,
}

impl TlbiVa {
    /// The bytes this command invalidates for `granule` (one granule for `tg == 0`, which
    /// in fact reaches the whole block holding `addr`).
    pub const fn len(self, granule: Granule) -> u64 {
        if self.tg == 0 {
            granule.bytes()
        } else {
            ((self.num as u64) + 1) << (self.scale as u32 + granule.bits())
        }
    }
}

/// One TLB invalidation command for the changed ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TlbiCommand {
    /// TLBI_NH_VA (stage 1) or TLBI_S2_IPA (stage 2) with these address fields.
    Va(TlbiVa),
    /// Everything of the table: TLBI_NH_ASID with the CD's ASID (stage 1) or TLBI_S12_VMALL
    /// with the VMID (stage 2).
    All,
}

/// The commands invalidating `ranges` (granule-aligned) with the `Leaf` hint `leaf`:
///
/// - with RIL, each range becomes range commands, one per non-zero base-32 digit of its
///   granule count N (NUM = digit − 1, SCALE = 5 × the digit's position, up to 25; the
///   part from 2^30 granules up in units of 32 × 2^30), so a range of N granules takes at
///   most ⌈log2(N + 1) / 5⌉ + 1 commands;
/// - without RIL, one single-address command per granule;
/// - in either case, if that comes to more than `config.max_commands`, a single
///   [`TlbiCommand::All`] instead. So invalidating N contiguous pages costs O(log N)
///   commands with RIL and at most `max_commands` without.
pub fn tlbi_commands(ranges: &[IovaRange], leaf: bool, config: TlbiConfig) -> Vec<TlbiCommand> {
    let g = config.granule.bits();
    let mut out = Vec::new();
    for r in ranges {
        let mut addr = r.start;
        let pages = r.len >> g;
        if config.ril {
            // Base-32 digits of the page count: digit k is `d` units of 2^(5k) granules
            // (NUM = d - 1, SCALE = 5k), up to SCALE 25; above that, units of 2^30.
            let mut chunks = [(0u64, 0u32); 6];
            for (k, chunk) in chunks.iter_mut().enumerate() {
                let scale = 5 * k as u32;
                *chunk = ((pages >> scale) & 0x1F, scale);
            }
            let mut high = pages >> 30;
            let high_chunks = core::iter::from_fn(move || {
                (high != 0).then(|| {
                    let units = high.min(32);
                    high -= units;
                    (units, 30)
                })
            });
            for (units, scale) in chunks.into_iter().chain(high_chunks) {
                if units == 0 {
                    continue;
                }
                if out.len() >= config.max_commands {
                    return vec![TlbiCommand::All];
                }
                // The same range with the fewest units: move factors of two into SCALE.
                let shift = units.trailing_zeros().min(31 - scale);
                let (units, scale) = (units >> shift, scale + shift);
                out.push(TlbiCommand::Va(TlbiVa {
                    addr,
                    tg: config.granule.tlbi_tg(),
                    num: (units - 1) as u8,
                    scale: scale as u8,
                    ttl: 0,
                    leaf,
                }));
                addr = addr.wrapping_add(units << (scale + g));
            }
        } else {
            if pages > (config.max_commands.saturating_sub(out.len())) as u64 {
                return vec![TlbiCommand::All];
            }
            for i in 0..pages {
                out.push(TlbiCommand::Va(TlbiVa {
                    addr: addr.wrapping_add(i << g),
                    tg: 0,
                    num: 0,
                    scale: 0,
                    ttl: 0,
                    leaf,
                }));
            }
        }
    }
    out
}
