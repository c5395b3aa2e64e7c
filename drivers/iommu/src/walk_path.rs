//! The table descriptors a page-table walk passed on its way down, shared by
//! the VT-d and SMMUv3 page tables: an unmap goes back up this path to drop
//! each table's count and free the tables it emptied.

/// A table descriptor passed on the way down: where it is, its value, the
/// table it points to.
#[derive(Clone, Copy, Default)]
pub(crate) struct Step {
    pub at: u64,
    pub raw: u64,
    pub child: u64,
}

/// Up to `N` steps from the root down (`N` = levels − 1: the leaf level has no
/// table below it). Steps beyond `N` are not recorded.
pub(crate) struct Path<const N: usize> {
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
