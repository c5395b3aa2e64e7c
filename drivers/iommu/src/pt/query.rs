//! The read-only side of the engine: one translation, ascending lookups that start where
//! the last one ended, and the leaves over a range.

use alloc::vec::Vec;

use super::table::slots;
use super::{Decoded, Error, Format, Mapping, Table};
use crate::hw::DmaMemory;

/// The leaves [`Table::mappings`] lists: `(leaf's input address, the leaf)`.
pub type Leaves<A> = Vec<(u64, Mapping<A>)>;

/// Where [`Table::query_near`] ended: the table holding the last leaf found
/// (below the root), at `height`, which covers the input addresses from
/// `base` on, in the table whose root is `root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    root: u64,
    base: u64,
    table: u64,
    height: u8,
}

impl<F: Format> Table<F> {
    /// The translation of `iova`, if it is mapped.
    pub fn query<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        iova: u64,
    ) -> Option<Mapping<F::Attributes>> {
        self.query_near(mem, iova, &mut None)
    }

    /// [`query`](Self::query) for lookups in ascending order: `last` keeps
    /// the table the previous lookup ended in, and a lookup inside the part
    /// of the address space that table covers starts there instead of at the
    /// root. `last` describes the table as it was: the caller drops it
    /// (`None`) whenever it changes the table.
    pub fn query_near<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        iova: u64,
        last: &mut Option<Lookup>,
    ) -> Option<Mapping<F::Attributes>> {
        if iova >> self.geometry.input_bits != 0 {
            return None;
        }
        let (mut table, mut height) = match *last {
            Some(l) if l.root == self.root && iova & !(self.span(l.height + 1) - 1) == l.base => {
                (l.table, l.height)
            }
            _ => (self.root, self.geometry.root_height()),
        };
        loop {
            let raw = mem.read64(self.entry_addr(table, height, iova));
            match self.decode(raw, height) {
                Decoded::Table(child) if height > 0 => {
                    table = child;
                    height -= 1;
                }
                Decoded::Leaf(phys) => {
                    if height < self.geometry.root_height() {
                        let base = iova & !(self.span(height + 1) - 1);
                        *last = Some(Lookup {
                            root: self.root,
                            base,
                            table,
                            height,
                        });
                    }
                    let mut mapping = self.mapping(raw, phys, height);
                    mapping.phys += iova & (mapping.size - 1);
                    return Some(mapping);
                }
                Decoded::Invalid | Decoded::Table(_) => return None,
            }
        }
    }

    fn mapping(&self, raw: u64, phys: u64, height: u8) -> Mapping<F::Attributes> {
        Mapping {
            phys,
            level: F::level(height, self.geometry.levels),
            size: self.span(height),
            attributes: self.format.attributes(raw),
        }
    }

    /// Every leaf that overlaps `iova .. iova + len`, ascending: `(leaf's input address,
    /// mapping of the leaf)`. For a range check, a dump or a teardown plan.
    pub fn mappings<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        iova: u64,
        len: u64,
    ) -> Result<Leaves<F::Attributes>, Error> {
        let mut out = Vec::new();
        if let Some(end) = self.check_input(iova, len)? {
            let root = self.geometry.root_height();
            self.walk_leaves(mem, self.root, root, iova, end, &mut out);
        }
        Ok(out)
    }

    fn walk_leaves<M: DmaMemory + ?Sized>(
        &self,
        mem: &M,
        table: u64,
        height: u8,
        start: u64,
        end: u64,
        out: &mut Leaves<F::Attributes>,
    ) {
        let size = self.span(height);
        for (a, b) in slots(size, start, end) {
            let raw = mem.read64(self.entry_addr(table, height, a));
            match self.decode(raw, height) {
                Decoded::Leaf(phys) => out.push((a & !(size - 1), self.mapping(raw, phys, height))),
                Decoded::Table(child) if height > 0 => {
                    self.walk_leaves(mem, child, height - 1, a, b, out);
                }
                _ => {}
            }
        }
    }
}
