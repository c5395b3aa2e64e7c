//! One page-table engine for every translation format vsva writes.
//!
//! A table is a radix tree of tables in [`DmaMemory`]; the engine ([`Table`]) does the
//! walks, the range arithmetic, the all-or-nothing plan and commit, the present-entry
//! counts, the freeing of emptied tables and the [`Invalidation`] that says what went stale.
//! A format ([`Format`]) is only its descriptor encoding and its policy; the level geometry
//! ([`Geometry`]) is a value each format's constructor computes. The formats:
//!
//! - x86 paging, 4 and 5 levels (Intel SDM Vol. 3 §4.5; VT-d first stage §9.7, AMD nested
//!   paging): `vtd::pagetable::FirstStage`;
//! - VT-d second stage, 3 to 5 levels (§9.8): `vtd::pagetable::SecondStage`;
//! - VMSAv8-64 stage 1 and stage 2 with 4, 16 and 64 KiB granules, stage 2 with
//!   concatenated start-level tables (Arm ARM D8.2, D8.3): `smmuv3::pagetable::{Stage1,
//!   Stage2}`.
//!
//! Levels are counted here by *height*: 0 is the level holding the smallest pages, the root
//! is at `levels − 1`. Each format names its levels its own way ([`Format::level`]): VT-d
//! counts up from 1 at the page level, VMSAv8-64 down to 3 there.
//!
//! # Rules every format gets
//! - Every operation validates the whole range and allocates every table it needs *before*
//!   it writes anything: an error leaves the table exactly as it was.
//! - [`Table::map`] uses the largest leaves the alignment of both addresses and the format
//!   allow, and refuses ([`Error::AlreadyMapped`]) to replace anything present.
//! - [`Table::unmap`] skips holes and frees the tables it empties. Inside a block (a leaf
//!   above height 0) it either splits the block, when the format may replace a live leaf by
//!   a table in one write ([`Format::SPLITS_BLOCKS`], VT-d), or refuses with
//!   [`Error::PartialBlock`] (VMSAv8-64, where that change needs break-before-make, Arm ARM
//!   D8.16.1).
//! - Mutations return an [`Invalidation`]: the stale input ranges, whether non-leaf entries
//!   changed, and the tables unlinked, which [`Invalidation::finish`] frees only once the
//!   caller's TLB invalidation has completed.
//! - A single page or block where every table on the way exists is mapped or unmapped in
//!   place: one walk, one entry, one count (the call a driver mapping page by page makes).
//!
//! # Software bits
//! A table entry records how many entries of the table it points to are present, in bits
//! the format defines as ignored in table entries ([`Format::count_of`]), which makes "is
//! this table empty now" O(1).
//!
//! [`DmaMemory`]: crate::hw::DmaMemory

mod in_place;
mod invalidation;
mod path;
mod query;
mod table;
#[cfg(test)]
mod tests;

use core::fmt;

use bitflags::bitflags;

pub use invalidation::{Invalidation, IovaRange};
pub use query::{Leaves, Lookup};
pub use table::Table;

/// The size of the frames [`DmaMemory`](crate::hw::DmaMemory) hands out; a 16 KiB or
/// 64 KiB table is 4 or 16 of them.
pub const FRAME_SIZE: u64 = 4096;

bitflags! {
    /// What a device (or a CPU, for a stage 2) may do through a mapping.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Permissions: u8 {
        /// Reads (VT-d second stage R, first stage P; VMSA stage 1 any valid descriptor,
        /// stage 2 S2AP[0]).
        const READ = 1 << 0;
        /// Writes (second stage W, first stage R/W; VMSA stage 1 AP[2] = 0, stage 2
        /// S2AP[1]).
        const WRITE = 1 << 1;
        /// Instruction fetches / execute requests (second stage X, first stage XD clear;
        /// VMSA PXN/UXN or XN clear).
        const EXECUTE = 1 << 2;
    }
}

/// What an entry is, as its format decodes it at a height.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decoded {
    /// Not present / invalid (or reserved, which a walk treats as a translation fault).
    Invalid,
    /// A table entry pointing to the next table down at this address.
    Table(u64),
    /// A leaf (page or block) with this output address.
    Leaf(u64),
}

/// A translation format: how entries are encoded and what the engine may do with them.
/// Each implementation says which section of its specification each rule comes from.
pub trait Format: Copy + fmt::Debug {
    /// What a leaf says besides its output address.
    type Attributes: Copy + fmt::Debug + PartialEq;
    /// The page bits and stride of every table of this format, with a root as wide as the
    /// other levels, when they are fixed (x86 and VT-d: 12 and 9): the engine's address
    /// arithmetic then folds to constants. `None` (VMSA) reads them from the [`Geometry`].
    const FIXED_SHAPE: Option<(u8, u8)> = None;
    /// Whether a map must be invalidated as well: VT-d with CAP.CM = 1 may cache
    /// not-present entries (§6.1), VMSA TLBs never hold invalid descriptors (Arm ARM D8.16).
    const MAP_INVALIDATES: bool;
    /// Whether an unmap through part of a block replaces the block by a table of smaller
    /// leaves (one 64-bit write, which VT-d allows, §6.5.2.3) or refuses.
    const SPLITS_BLOCKS: bool;
    /// The format's own number for the level at `height` (0 = the page level) in a table
    /// of `levels` levels.
    fn level(height: u8, levels: u8) -> u8;
    /// Decodes entry `raw` of a table at `height`.
    fn decode(&self, raw: u64, height: u8, geometry: &Geometry) -> Decoded;
    /// The attributes of leaf `raw`.
    fn attributes(&self, raw: u64) -> Self::Attributes;
    /// A table entry pointing to the table at `table`.
    fn table_entry(&self, table: u64) -> u64;
    /// A leaf at `height` mapping `phys` (aligned to the leaf's size) with `attributes`
    /// (already [`check`](Self::check)ed). The address bits must be `phys` itself:
    /// `leaf_entry(phys, ..) == leaf_entry(0, ..) | phys`, which lets the engine write a run
    /// of leaves from one template.
    fn leaf_entry(&self, phys: u64, height: u8, attributes: Self::Attributes) -> u64;
    /// Whether this table can express `attributes`
    /// ([`Error::UnsupportedAttributes`] if not).
    fn check(&self, attributes: Self::Attributes) -> Result<(), Error>;
    /// The present-entry count kept in table entry `raw`.
    fn count_of(raw: u64) -> u64;
    /// Table entry `raw` with its count replaced by `count`.
    fn with_count(raw: u64, count: u64) -> u64;
    /// Table entry `raw` with `delta` added to its count, which stays between 0 and the
    /// table's entries. A format whose count is one field adds in place: the single-leaf
    /// paths change the count on every call, and the fewer steps between reading the
    /// entry and writing it back, the sooner the next call can read it.
    #[inline]
    fn add_count(raw: u64, delta: i64) -> u64 {
        Self::with_count(raw, Self::count_of(raw).wrapping_add_signed(delta))
    }
}

/// The shape of one table: page size, bits per level, levels, the root's width, where
/// leaves may sit, and the input and output sizes. Fixed when the table is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    page_bits: u8,
    stride: u8,
    levels: u8,
    root_bits: u8,
    leaves: u8,
    input_bits: u8,
    output_bits: u8,
}

impl Geometry {
    /// A geometry of `levels` levels below pages of 2^`page_bits` bytes, each level
    /// resolving `stride` bits except the root, which resolves `root_bits` (more than
    /// `stride` for concatenated tables, fewer for a partly used root); leaves allowed at the
    /// heights whose bit is set in `leaf_heights` (bit 0, pages, is always allowed).
    pub const fn new(
        page_bits: u8,
        stride: u8,
        levels: u8,
        root_bits: u8,
        leaf_heights: u8,
        input_bits: u8,
        output_bits: u8,
    ) -> Self {
        Self {
            page_bits,
            stride,
            levels,
            root_bits,
            leaves: leaf_heights | 1,
            input_bits,
            output_bits,
        }
    }

    /// The number of levels; the root is at height `levels − 1`.
    pub const fn levels(&self) -> u8 {
        self.levels
    }

    /// The height of the root table.
    pub const fn root_height(&self) -> u8 {
        self.levels - 1
    }

    /// The smallest page, in bytes.
    pub const fn page_size(&self) -> u64 {
        1 << self.page_bits
    }

    /// Input addresses are below 2^`input_bits`.
    pub const fn input_bits(&self) -> u8 {
        self.input_bits
    }

    /// Output addresses are below 2^`output_bits`.
    pub const fn output_bits(&self) -> u8 {
        self.output_bits
    }

    /// The input-address bits the root resolves.
    pub const fn root_bits(&self) -> u8 {
        self.root_bits
    }

    /// Whether a leaf may sit at `height`.
    pub const fn leaf_allowed(&self, height: u8) -> bool {
        height < 8 && self.leaves & (1 << height) != 0
    }

    /// The lowest input-address bit a table at `height` indexes.
    #[inline]
    pub const fn shift(&self, height: u8) -> u32 {
        self.page_bits as u32 + height as u32 * self.stride as u32
    }

    /// The bytes one entry at `height` maps.
    #[inline]
    pub const fn span(&self, height: u8) -> u64 {
        1 << self.shift(height)
    }

    /// The index bits of a table at `height`.
    #[inline]
    pub const fn index_bits(&self, height: u8) -> u8 {
        if height + 1 == self.levels {
            self.root_bits
        } else {
            self.stride
        }
    }

    /// The entries of a table at `height`.
    pub const fn entries(&self, height: u8) -> u64 {
        1 << self.index_bits(height)
    }

    /// The [`FRAME_SIZE`] frames a table at `height` takes (at least one page).
    pub const fn frames(&self, height: u8) -> usize {
        let bytes = 8u64 << self.index_bits(height);
        let page = self.page_size();
        let bytes = if bytes > page { bytes } else { page };
        (bytes / FRAME_SIZE) as usize
    }

    /// The address of the entry for `iova` in the table at `table` of `height`.
    #[inline]
    pub const fn entry_addr(&self, table: u64, height: u8, iova: u64) -> u64 {
        let mask = (1u64 << self.index_bits(height)) - 1;
        table + ((iova >> self.shift(height)) & mask) * 8
    }
}

/// What [`Table::query`] and [`Table::mappings`] find for an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Mapping<A> {
    /// The output address: for a query the queried address's, for a listing the leaf's.
    pub phys: u64,
    /// The leaf's level, in the format's numbering ([`Format::level`]).
    pub level: u8,
    /// The leaf's size in bytes.
    pub size: u64,
    /// What the leaf says.
    pub attributes: A,
}

/// Why a page-table operation was refused. The table is unchanged after any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// An input address, output address or length is not a multiple of the page size.
    Unaligned,
    /// `address + length` overflows 64 bits.
    Overflow,
    /// The input range reaches beyond the table's input size.
    InputOutOfRange {
        /// The table's input size in bits.
        input_bits: u8,
    },
    /// The output range reaches beyond the table's output size.
    OutputOutOfRange {
        /// The table's output size in bits.
        output_bits: u8,
    },
    /// Part of the range is already mapped; `iova` is the first such address.
    AlreadyMapped {
        /// The first input address of the range that is already mapped.
        iova: u64,
    },
    /// The unmap range cuts through a block the format does not split; nothing was
    /// unmapped.
    PartialBlock {
        /// The base input address of the block.
        iova: u64,
        /// The block's size in bytes.
        size: u64,
    },
    /// A table could not be allocated; nothing was changed.
    OutOfMemory,
    /// The attributes cannot be expressed in this format or table (each format says why).
    UnsupportedAttributes,
    /// No geometry the format (and the hardware) supports covers this input size.
    UnsupportedInputSize {
        /// The size asked for, in bits.
        requested: u8,
    },
    /// The output size is not one the format can name.
    UnsupportedOutputSize {
        /// The size asked for, in bits.
        requested: u8,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unaligned => f.write_str("address or length not page aligned"),
            Self::Overflow => f.write_str("address + length overflows"),
            Self::InputOutOfRange { input_bits } => {
                write!(f, "input range beyond the table's {input_bits}-bit size")
            }
            Self::OutputOutOfRange { output_bits } => {
                write!(f, "output range beyond {output_bits} bits")
            }
            Self::AlreadyMapped { iova } => write!(f, "input address {iova:#x} already mapped"),
            Self::PartialBlock { iova, size } => {
                write!(
                    f,
                    "range cuts through the {size:#x}-byte block at {iova:#x}"
                )
            }
            Self::OutOfMemory => f.write_str("out of memory for page tables"),
            Self::UnsupportedAttributes => f.write_str("attributes not expressible"),
            Self::UnsupportedInputSize { requested } => {
                write!(f, "no supported table depth for {requested}-bit input")
            }
            Self::UnsupportedOutputSize { requested } => {
                write!(f, "unsupported {requested}-bit output size")
            }
        }
    }
}
