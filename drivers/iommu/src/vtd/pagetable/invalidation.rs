//! What a page-table change leaves for the caller to invalidate, and page-selective IOTLB
//! invalidation chunks (§6.5.2.3).

use alloc::vec::Vec;
use core::slice;

use super::PAGE_SIZE;
use crate::hw::DmaMemory;

/// A range of IOVAs, `start .. start + len`, 4 KiB aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IovaRange {
    /// The first IOVA.
    pub start: u64,
    /// The length in bytes.
    pub len: u64,
}

impl IovaRange {
    /// One past the last IOVA.
    pub const fn end(self) -> u64 {
        self.start + self.len
    }

    /// The page-selective invalidations that cover exactly this range.
    pub fn psi_chunks(self, mamv: u8) -> PsiChunks {
        psi_chunks(self.start, self.len, mamv)
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

/// What the caller must do after a page-table change (§6.5, §6.2.4):
///
/// 1. invalidate the IOTLB (and, for first-stage tables, the PASID-based IOTLB) for
///    [`ranges`](Self::ranges) — page-selectively with [`psi_chunks`](Self::psi_chunks),
///    with the invalidation hint IH = [`ih`](Self::ih), or domain-selectively;
/// 2. wait for that invalidation to complete (invalidation wait descriptor, §6.5.2.8);
/// 3. only then call [`finish`](Self::finish), which frees the table pages that the change
///    unlinked ([`tables_to_free`](Self::tables_to_free)). The hardware may walk them
///    through its paging-structure caches until step 2 is done: freeing them earlier lets
///    it read reused memory as page tables.
///
/// For a [`map`](super::IoPageTable::map), step 1 is needed only when CAP.CM = 1 (caching
/// mode, §6.1: not-present entries may be cached); otherwise only a write-buffer flush when
/// CAP.RWBF. A map never frees tables.
///
/// Values can be [`merge`](Self::merge)d to batch several operations into one round of
/// invalidation. Dropping one without [`finish`](Self::finish) leaks its pages (safe).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use = "the IOTLB must be invalidated, then `finish` frees the unlinked tables"]
pub struct Invalidation {
    ranges: Ranges,
    non_leaf: bool,
    tables: Vec<u64>,
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

    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        matches!(self.ranges, Ranges::None) && self.tables.is_empty()
    }

    /// The changed IOVA ranges, ascending within one operation, adjacent ones coalesced.
    pub fn ranges(&self) -> &[IovaRange] {
        match &self.ranges {
            Ranges::None => &[],
            Ranges::One(r) => slice::from_ref(r),
            Ranges::Many(v) => v,
        }
    }

    /// Whether paging-structure (non-leaf) entries changed: a table was linked, unlinked or
    /// a superpage split. Then the IOTLB invalidation must have IH = 0.
    pub const fn non_leaf(&self) -> bool {
        self.non_leaf
    }

    /// The invalidation hint IH of the IOTLB invalidate descriptor (§6.5.2.3): 1 when only
    /// leaf entries changed, so paging-structure caches may be kept.
    pub const fn ih(&self) -> bool {
        !self.non_leaf
    }

    /// The table pages unlinked by the change, freed by [`finish`](Self::finish).
    pub fn tables_to_free(&self) -> &[u64] {
        &self.tables
    }

    /// Page-selective invalidations (ADDR, AM) covering exactly [`ranges`](Self::ranges),
    /// each at most 2^`mamv` pages (CAP.MAMV).
    pub fn psi_chunks(&self, mamv: u8) -> impl Iterator<Item = PsiChunk> + '_ {
        self.ranges().iter().flat_map(move |r| r.psi_chunks(mamv))
    }

    /// Adds `other`'s work to this one.
    pub fn merge(&mut self, mut other: Invalidation) {
        for &r in other.ranges() {
            self.add_range(r.start, r.len);
        }
        self.non_leaf |= other.non_leaf;
        self.tables.append(&mut other.tables);
    }

    /// Frees the unlinked table pages. Call only once the IOTLB invalidation for
    /// [`ranges`](Self::ranges) has completed (see the type's documentation).
    pub fn finish<M: DmaMemory + ?Sized>(self, mem: &M) {
        for &t in &self.tables {
            mem.free_pages(t, 1);
        }
    }

    /// One changed leaf range, nothing else: what a single-page map or unmap
    /// leaves (built in place, not by [`add_range`](Self::add_range)).
    #[inline]
    pub(super) const fn leaf_range(start: u64, len: u64) -> Self {
        Self {
            ranges: Ranges::One(IovaRange { start, len }),
            non_leaf: false,
            tables: Vec::new(),
        }
    }

    /// Records `start .. start + len` as changed, coalescing with the last range.
    pub(super) fn add_range(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let new = IovaRange { start, len };
        match &mut self.ranges {
            Ranges::None => self.ranges = Ranges::One(new),
            Ranges::One(last) if last.end() == start => last.len += len,
            Ranges::One(last) => self.ranges = Ranges::Many(alloc::vec![*last, new]),
            Ranges::Many(v) => match v.last_mut() {
                Some(last) if last.end() == start => last.len += len,
                _ => v.push(new),
            },
        }
    }

    pub(super) fn set_non_leaf(&mut self) {
        self.non_leaf = true;
    }

    pub(super) fn push_table(&mut self, table: u64) {
        self.tables.push(table);
    }
}

/// One page-selective-within-domain IOTLB invalidation (§6.5.2.3): the 2^`am` pages from
/// `addr`, which is aligned to that size. These are the ADDR and AM fields of the IOTLB
/// invalidate descriptor (and of IVA_REG, §11.4.6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PsiChunk {
    /// ADDR: the first IOVA, aligned to 2^(12 + am) bytes.
    pub addr: u64,
    /// AM: the address mask, log2 of the number of 4 KiB pages.
    pub am: u8,
}

impl PsiChunk {
    /// The bytes this chunk invalidates.
    pub const fn len(self) -> u64 {
        PAGE_SIZE << self.am
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub const fn is_empty(self) -> bool {
        false
    }
}

/// Splits `start .. start + len` into naturally aligned power-of-two blocks of 4 KiB pages,
/// largest first where alignment allows, each of at most 2^`mamv` pages (CAP.MAMV, §11.4.2).
/// `start` is rounded down and the end up to 4 KiB. A range of N pages gives at most about
/// 2·log2(N) chunks, plus N / 2^MAMV when N exceeds the largest chunk.
pub fn psi_chunks(start: u64, len: u64, mamv: u8) -> PsiChunks {
    let first = start / PAGE_SIZE;
    let end = start.saturating_add(len).div_ceil(PAGE_SIZE);
    PsiChunks {
        page: first,
        remaining: end.saturating_sub(first),
        mamv: mamv.min(52),
    }
}

/// The iterator [`psi_chunks`] returns.
#[derive(Clone, Debug)]
pub struct PsiChunks {
    page: u64,
    remaining: u64,
    mamv: u8,
}

impl Iterator for PsiChunks {
    type Item = PsiChunk;

    fn next(&mut self) -> Option<PsiChunk> {
        if self.remaining == 0 {
            return None;
        }
        let align = self.page.trailing_zeros().min(63);
        let fits = 63 - self.remaining.leading_zeros();
        let am = align.min(fits).min(u32::from(self.mamv));
        let pages = 1u64 << am;
        let chunk = PsiChunk {
            addr: self.page.wrapping_mul(PAGE_SIZE),
            am: am as u8,
        };
        self.page += pages;
        self.remaining -= pages;
        Some(chunk)
    }
}
