//! The table entries a walk passed on its way down (an unmap goes back up
//! this path to drop each table's count and free the tables it emptied), and
//! the tables an operation allocates before it writes anything.

use alloc::vec::Vec;

use super::Error;
use crate::hw::DmaMemory;

/// A table descriptor passed on the way down: where it is, its value, the
/// table it points to.
#[derive(Clone, Copy, Default)]
pub(super) struct Step {
    pub at: u64,
    pub raw: u64,
    pub child: u64,
}

/// Up to `N` steps from the root down (`N` = levels − 1: the leaf level has no
/// table below it). Steps beyond `N` are not recorded.
pub(super) struct Path<const N: usize> {
    steps: [Step; N],
    len: usize,
}

impl<const N: usize> Default for Path<N> {
    fn default() -> Self {
        Self {
            steps: [Step::default(); N],
            len: 0,
        }
    }
}

impl<const N: usize> Path<N> {
    pub fn push(&mut self, step: Step) {
        if let Some(slot) = self.steps.get_mut(self.len) {
            *slot = step;
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Step> {
        self.steps.iter().take(self.len)
    }

    pub fn last(&self) -> Option<&Step> {
        self.len.checked_sub(1).and_then(|i| self.steps.get(i))
    }
}

/// Tables allocated before an operation writes anything, each `frames` frames.
pub(super) struct Pool {
    tables: Vec<u64>,
    frames: usize,
}

impl Pool {
    /// `count` tables, or none and [`Error::OutOfMemory`].
    pub fn alloc<M: DmaMemory + ?Sized>(
        mem: &M,
        count: usize,
        frames: usize,
    ) -> Result<Self, Error> {
        let mut tables = Vec::new();
        if tables.try_reserve_exact(count).is_err() {
            return Err(Error::OutOfMemory);
        }
        for _ in 0..count {
            match mem.alloc_pages(frames) {
                Some(t) => tables.push(t),
                None => {
                    Self { tables, frames }.release(mem);
                    return Err(Error::OutOfMemory);
                }
            }
        }
        Ok(Self { tables, frames })
    }

    /// One of the tables (planning counted them, so it is there).
    pub fn take(&mut self) -> Option<u64> {
        self.tables.pop()
    }

    /// Returns the tables the operation did not use (none, when planning was exact).
    pub fn release<M: DmaMemory + ?Sized>(self, mem: &M) {
        for t in self.tables {
            mem.free_pages(t, self.frames);
        }
    }
}
