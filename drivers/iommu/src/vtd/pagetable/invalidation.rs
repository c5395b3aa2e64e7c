//! Page-selective IOTLB invalidation chunks (§6.5.2.3) for what a page-table change
//! leaves to invalidate.

use super::PAGE_SIZE;
use crate::pt::{Invalidation, IovaRange};

impl IovaRange {
    /// The page-selective invalidations that cover exactly this range.
    pub fn psi_chunks(self, mamv: u8) -> PsiChunks {
        psi_chunks(self.start, self.len, mamv)
    }
}

impl Invalidation {
    /// Page-selective invalidations (ADDR, AM) covering exactly [`ranges`](Self::ranges),
    /// each at most 2^`mamv` pages (CAP.MAMV).
    pub fn psi_chunks(&self, mamv: u8) -> impl Iterator<Item = PsiChunk> + '_ {
        self.ranges().iter().flat_map(move |r| r.psi_chunks(mamv))
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
