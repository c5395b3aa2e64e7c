//! What a translation-table change leaves for the caller to invalidate, and its translation
//! into SMMUv3 TLB invalidation commands (SMMUv3 §4.4.1 TLBI_NH_VA, §4.4.2 TLBI_S2_IPA;
//! range invalidation when SMMU_IDR3.RIL, §6.3.4).

use alloc::vec;
use alloc::vec::Vec;
use core::slice;

use super::Granule;
use crate::hw::DmaMemory;

/// A range of input addresses (IOVA at stage 1, IPA at stage 2), `start .. start + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IovaRange {
    /// The first address.
    pub start: u64,
    /// The length in bytes.
    pub len: u64,
}

impl IovaRange {
    /// One past the last address.
    pub const fn end(self) -> u64 {
        self.start.wrapping_add(self.len)
    }
}

/// Coalesced ranges; one inline so that a single-range change does not allocate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum Ranges {
    #[default]
    None,
    One(IovaRange),
    Many(Vec<IovaRange>),
}

/// What the caller must do after a translation-table change:
///
/// 1. invalidate the TLB entries of [`ranges`](Self::ranges) — TLBI_NH_VA (stage 1, with
///    the CD's ASID) or TLBI_S2_IPA (stage 2, with the VMID), see
///    [`tlbi_commands`](Self::tlbi_commands) — with `Leaf = 1` only when
///    [`leaf_only`](Self::leaf_only), then CMD_SYNC and wait for it;
/// 2. only then call [`finish`](Self::finish), which frees the unlinked tables
///    ([`tables_to_free`](Self::tables_to_free)): until the sync completes the SMMU may
///    still walk them from its walk caches.
///
/// Values can be [`merge`](Self::merge)d to batch several operations into one round.
/// Dropping one without [`finish`](Self::finish) leaks its tables (safe).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the TLB must be invalidated, then `finish` frees the unlinked tables"]
pub struct Invalidation {
    ranges: Ranges,
    non_leaf: bool,
    /// (address, 4 KiB frames) of each unlinked table.
    tables: Vec<(u64, usize)>,
}

impl Invalidation {
    /// Nothing to invalidate.
    #[inline]
    pub const fn none() -> Self {
        Self {
            ranges: Ranges::None,
            non_leaf: false,
            tables: Vec::new(),
        }
    }

    /// The same invalidation for a table used as a CD's TTB1 with T1SZ `t1sz`:
    /// the table works on addresses below 2^(64 − T1SZ), while the TLB holds the
    /// upper-half addresses they stand for (every bit from 64 − T1SZ up set,
    /// SMMUv3 §5.4, Arm ARM D8.2.4), which TLBI_NH_VA must name.
    pub fn in_upper_half(mut self, t1sz: u8) -> Self {
        let top = !(u64::MAX >> (t1sz & 0x3f));
        let lift = |r: &mut IovaRange| r.start |= top;
        match &mut self.ranges {
            Ranges::None => {}
            Ranges::One(r) => lift(r),
            Ranges::Many(v) => v.iter_mut().for_each(lift),
        }
        self
    }

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        matches!(self.ranges, Ranges::None) && self.tables.is_empty()
    }

    /// The changed input ranges, ascending within one operation, adjacent ones coalesced.
    pub fn ranges(&self) -> &[IovaRange] {
        match &self.ranges {
            Ranges::None => &[],
            Ranges::One(r) => slice::from_ref(r),
            Ranges::Many(v) => v,
        }
    }

    /// Whether only leaf (block / page) descriptors changed: then the TLBI commands may set
    /// `Leaf = 1` and walk caches may be kept.
    pub const fn leaf_only(&self) -> bool {
        !self.non_leaf
    }

    /// The addresses of the tables unlinked by the change, freed by
    /// [`finish`](Self::finish).
    pub fn tables_to_free(&self) -> impl ExactSizeIterator<Item = u64> + '_ {
        self.tables.iter().map(|&(addr, _)| addr)
    }

    /// The invalidation commands covering [`ranges`](Self::ranges): see [`tlbi_commands`].
    pub fn tlbi_commands(&self, config: TlbiConfig) -> Vec<TlbiCommand> {
        tlbi_commands(self.ranges(), self.leaf_only(), config)
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, mut other: Invalidation) {
        for &r in other.ranges() {
            self.add_range(r.start, r.len);
        }
        self.non_leaf |= other.non_leaf;
        self.tables.append(&mut other.tables);
    }

    /// Frees the unlinked tables. Call only once the invalidation of
    /// [`ranges`](Self::ranges) has completed (see the type's documentation).
    pub fn finish<M: DmaMemory + ?Sized>(self, mem: &M) {
        for &(addr, frames) in &self.tables {
            mem.free_pages(addr, frames);
        }
    }

    /// Records `start .. start + len` as changed, coalescing with the last range.
    /// One changed leaf range, nothing else: what a single-leaf unmap leaves
    /// (built in one piece, not by [`add_range`](Self::add_range)).
    #[inline]
    pub(super) const fn leaf_range(start: u64, len: u64) -> Self {
        Self {
            ranges: Ranges::One(IovaRange { start, len }),
            non_leaf: false,
            tables: Vec::new(),
        }
    }

    pub(super) fn add_range(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let new = IovaRange { start, len };
        match &mut self.ranges {
            Ranges::None => self.ranges = Ranges::One(new),
            Ranges::One(last) if last.end() == start => last.len += len,
            Ranges::One(last) => self.ranges = Ranges::Many(vec![*last, new]),
            Ranges::Many(v) => match v.last_mut() {
                Some(last) if last.end() == start => last.len += len,
                _ => v.push(new),
            },
        }
    }

    pub(super) fn set_non_leaf(&mut self) {
        self.non_leaf = true;
    }

    pub(super) fn push_table(&mut self, table: u64, frames: usize) {
        self.tables.push((table, frames));
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
