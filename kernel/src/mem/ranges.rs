//! Sets of physical address ranges with a fixed capacity, usable before the heap.
//!
//! Memory discovery builds the allocatable set as "usable RAM minus everything
//! reserved": firmware maps overlap, arrive unsorted and mark the same bytes with
//! different types, so the set keeps sorted, disjoint, half-open ranges and every
//! operation restores that.
#![deny(unsafe_code)]

use core::fmt;

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The largest sub-range whose ends are multiples of `align` (a power of two).
    pub const fn shrink_to(&self, align: u64) -> Self {
        let start = match self.start.checked_add(align - 1) {
            Some(s) => s & !(align - 1),
            None => u64::MAX,
        };
        Self {
            start,
            end: self.end & !(align - 1),
        }
    }
}

impl fmt::Debug for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.start, self.end)
    }
}

/// The set ran out of room for a split; it is left unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded;

/// Sorted, disjoint, non-empty ranges, at most `N` of them.
#[derive(Clone)]
pub struct RangeSet<const N: usize> {
    ranges: [Range; N],
    len: usize,
}

impl<const N: usize> Default for RangeSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for RangeSet<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> RangeSet<N> {
    pub const fn new() -> Self {
        Self {
            ranges: [Range::new(0, 0); N],
            len: 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Range> + '_ {
        self.ranges[..self.len].iter().copied()
    }

    /// Total bytes in the set.
    pub fn total(&self) -> u64 {
        self.iter().map(|r| r.len()).sum()
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.iter().any(|r| r.start <= addr && addr < r.end)
    }

    /// Adds `range`, merging with neighbours it overlaps or touches.
    pub fn insert(&mut self, range: Range) -> Result<(), CapacityExceeded> {
        if range.is_empty() {
            return Ok(());
        }
        let (mut start, mut end) = (range.start, range.end);
        // Ranges [first, last) of the current set merge with the new one.
        let first = self.ranges[..self.len].partition_point(|r| r.end < start);
        let mut last = first;
        while last < self.len && self.ranges[last].start <= end {
            start = start.min(self.ranges[last].start);
            end = end.max(self.ranges[last].end);
            last += 1;
        }
        let merged = last - first;
        if merged == 0 && self.len == N {
            return Err(CapacityExceeded);
        }
        // Replace [first, last) with the one merged range.
        if merged == 0 {
            self.ranges.copy_within(first..self.len, first + 1);
            self.len += 1;
        } else {
            self.ranges.copy_within(last..self.len, first + 1);
            self.len -= merged - 1;
        }
        self.ranges[first] = Range::new(start, end);
        Ok(())
    }

    /// Removes every byte of `range` from the set.
    pub fn remove(&mut self, range: Range) -> Result<(), CapacityExceeded> {
        if range.is_empty() {
            return Ok(());
        }
        let Some(i) = self.ranges[..self.len]
            .iter()
            .position(|r| r.end > range.start)
        else {
            return Ok(());
        };
        let cur = self.ranges[i];
        if cur.start < range.start && cur.end > range.end {
            // Splits one range in two.
            if self.len == N {
                return Err(CapacityExceeded);
            }
            self.ranges.copy_within(i..self.len, i + 1);
            self.len += 1;
            self.ranges[i] = Range::new(cur.start, range.start);
            self.ranges[i + 1] = Range::new(range.end, cur.end);
            return Ok(());
        }
        let mut out = i;
        for j in i..self.len {
            let r = self.ranges[j];
            if r.start >= range.end {
                self.ranges[out] = r;
                out += 1;
                continue;
            }
            // Keep what lies on either side of the hole (at most one side here).
            let left = Range::new(r.start, r.end.min(range.start));
            let right = Range::new(r.start.max(range.end), r.end);
            for piece in [left, right] {
                if !piece.is_empty() {
                    self.ranges[out] = piece;
                    out += 1;
                }
            }
        }
        self.len = out;
        Ok(())
    }

    /// Keeps only the parts of each range aligned to `align` (a power of two).
    pub fn shrink_to(&mut self, align: u64) {
        let mut out = 0;
        for j in 0..self.len {
            let r = self.ranges[j].shrink_to(align);
            if !r.is_empty() {
                self.ranges[out] = r;
                out += 1;
            }
        }
        self.len = out;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect<const N: usize>(s: &RangeSet<N>) -> Vec<(u64, u64)> {
        s.iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_merges_overlapping_and_touching_ranges() {
        let mut s = RangeSet::<8>::new();
        s.insert(Range::new(100, 200)).unwrap();
        s.insert(Range::new(300, 400)).unwrap();
        s.insert(Range::new(0, 50)).unwrap();
        assert_eq!(collect(&s), [(0, 50), (100, 200), (300, 400)]);
        s.insert(Range::new(200, 300)).unwrap(); // touches both neighbours
        assert_eq!(collect(&s), [(0, 50), (100, 400)]);
        s.insert(Range::new(40, 120)).unwrap();
        assert_eq!(collect(&s), [(0, 400)]);
        s.insert(Range::new(7, 7)).unwrap();
        assert_eq!(s.total(), 400);
    }

    #[test]
    fn remove_splits_trims_and_drops() {
        let mut s = RangeSet::<8>::new();
        s.insert(Range::new(0, 1000)).unwrap();
        s.remove(Range::new(100, 200)).unwrap();
        assert_eq!(collect(&s), [(0, 100), (200, 1000)]);
        s.remove(Range::new(50, 250)).unwrap();
        assert_eq!(collect(&s), [(0, 50), (250, 1000)]);
        s.remove(Range::new(0, 2000)).unwrap();
        assert_eq!(collect(&s), []);
    }

    #[test]
    fn full_set_refuses_a_split_and_stays_unchanged() {
        let mut s = RangeSet::<2>::new();
        s.insert(Range::new(0, 10)).unwrap();
        s.insert(Range::new(20, 30)).unwrap();
        assert_eq!(s.insert(Range::new(40, 50)), Err(CapacityExceeded));
        assert_eq!(s.remove(Range::new(2, 3)), Err(CapacityExceeded));
        assert_eq!(collect(&s), [(0, 10), (20, 30)]);
        // Merging needs no room.
        s.insert(Range::new(10, 20)).unwrap();
        assert_eq!(collect(&s), [(0, 30)]);
    }

    #[test]
    fn shrink_keeps_only_whole_pages() {
        let mut s = RangeSet::<4>::new();
        s.insert(Range::new(0x9fc00, 0xa0000)).unwrap(); // less than a page
        s.insert(Range::new(0x100001, 0x203fff)).unwrap();
        s.shrink_to(0x1000);
        assert_eq!(collect(&s), [(0x101000, 0x203000)]);
        assert!(
            Range::new(u64::MAX - 5, u64::MAX)
                .shrink_to(0x1000)
                .is_empty()
        );
    }

    /// Checks the set against a byte map over a small universe with a
    /// pseudo-random sequence of operations.
    #[test]
    fn agrees_with_a_bitmap_model() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _round in 0..200 {
            let mut set = RangeSet::<64>::new();
            let mut model = [false; 256];
            for _op in 0..40 {
                let a = next() % 256;
                let b = (a + next() % 40).min(256);
                let insert = next() % 3 != 0;
                let result = if insert {
                    set.insert(Range::new(a, b))
                } else {
                    set.remove(Range::new(a, b))
                };
                result.expect("64 ranges are enough for 40 operations");
                for bit in &mut model[a as usize..b as usize] {
                    *bit = insert;
                }
                let ranges: Vec<Range> = set.iter().collect();
                for w in ranges.windows(2) {
                    assert!(w[0].end < w[1].start, "not sorted/disjoint/merged: {set:?}");
                }
                for (addr, &bit) in model.iter().enumerate() {
                    assert_eq!(set.contains(addr as u64), bit, "addr {addr} in {set:?}");
                }
            }
        }
    }
}
