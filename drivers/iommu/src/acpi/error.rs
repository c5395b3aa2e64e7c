//! The one error type both table parsers return.

use core::fmt;

/// Why a DMAR or IORT table (or a lookup in one) was refused.
///
/// Every `offset` is a byte offset from the first byte of the table, i.e. of its ACPI header,
/// so it can be found directly in `iasl -d` output or a hex dump. Malformed input always ends
/// in one of these variants, never in a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcpiError {
    /// A structure needs `needed` bytes at `offset` but only `available` bytes are left in the
    /// area it must fit in (table, structure or node).
    Truncated {
        /// Where the structure starts.
        offset: usize,
        /// Bytes the structure's fixed part needs.
        needed: usize,
        /// Bytes that are actually there.
        available: usize,
    },
    /// The table's signature is not the one this parser reads (ACPI §5.2.6).
    BadSignature {
        /// The signature this parser reads.
        expected: [u8; 4],
        /// The signature found at offset 0.
        found: [u8; 4],
    },
    /// The header's Length field (offset 4) disagrees with the number of bytes supplied; this is
    /// how a table damaged in transit (for example by a text conversion) usually shows.
    LengthMismatch {
        /// The header's Length field.
        declared: u32,
        /// The number of bytes handed to the parser.
        actual: usize,
    },
    /// A structure, device scope or node has a length field of zero: walking it would never
    /// advance.
    ZeroLength {
        /// Where the structure starts.
        offset: usize,
    },
    /// A structure's length field is shorter than the structure's own fixed part.
    LengthTooSmall {
        /// Where the structure starts.
        offset: usize,
        /// The length field.
        length: usize,
        /// The smallest length this structure type can have.
        minimum: usize,
    },
    /// A structure's length field runs past the end of the area that contains it.
    LengthOverrun {
        /// Where the structure starts.
        offset: usize,
        /// The length field.
        length: usize,
        /// Bytes left in the containing area from `offset` on.
        available: usize,
    },
    /// A DMAR device scope whose path is not a whole number of 2-byte (device, function)
    /// entries (VT-d spec §8.3.1).
    OddPathLength {
        /// Where the device scope starts.
        offset: usize,
        /// Its length field.
        length: usize,
    },
    /// An offset field points outside the area it must stay in.
    OffsetOutOfBounds {
        /// Where the structure holding the offset field starts.
        offset: usize,
        /// The offset field's value.
        value: u64,
        /// The lowest or highest allowed value that `value` missed.
        limit: usize,
    },
    /// An array (`count` entries of `entry_size` bytes) does not fit in the node it belongs to.
    ArrayOverrun {
        /// Where the array would start.
        offset: usize,
        /// The entry count from the table.
        count: u32,
        /// Size of one entry.
        entry_size: usize,
        /// Bytes left in the node from `offset` on.
        available: usize,
    },
    /// An IORT reference (ID mapping output reference or PMCG node reference) does not point at
    /// the start of any node in the table.
    BadReference {
        /// Where the field holding the reference is (the ID mapping entry, or the node).
        offset: usize,
        /// The reference, an offset from the start of the table.
        reference: u32,
    },
    /// An IORT ID mapping leads to a node that cannot appear at that point of a mapping chain
    /// (for example a mapping into a named component, or from one SMMU into another).
    BadReferenceTarget {
        /// The node that was reached.
        offset: usize,
        /// Its type.
        node_type: u8,
    },
    /// Following IORT output references came back to a node already on the chain.
    ReferenceCycle {
        /// The node reached twice.
        offset: usize,
    },
    /// Following IORT output references took more hops than any valid table needs.
    ChainTooLong {
        /// The node where the walk gave up.
        offset: usize,
    },
    /// No ID mapping of the node covers the input ID.
    NoMapping {
        /// The node.
        offset: usize,
        /// The input ID.
        id: u32,
    },
    /// Applying an ID mapping (`output base + (id - input base)`) overflows 32 bits.
    IdOverflow {
        /// The ID mapping entry.
        offset: usize,
        /// The input ID.
        id: u32,
    },
    /// No IORT root complex node describes the requested PCI segment.
    NoRootComplex {
        /// The PCI segment asked for.
        segment: u32,
    },
}

impl AcpiError {
    /// The table byte offset the error is about, where there is one.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Self::Truncated { offset, .. }
            | Self::ZeroLength { offset }
            | Self::LengthTooSmall { offset, .. }
            | Self::LengthOverrun { offset, .. }
            | Self::OddPathLength { offset, .. }
            | Self::OffsetOutOfBounds { offset, .. }
            | Self::ArrayOverrun { offset, .. }
            | Self::BadReference { offset, .. }
            | Self::BadReferenceTarget { offset, .. }
            | Self::ReferenceCycle { offset }
            | Self::ChainTooLong { offset }
            | Self::NoMapping { offset, .. }
            | Self::IdOverflow { offset, .. } => Some(offset),
            Self::BadSignature { .. } => Some(0),
            Self::LengthMismatch { .. } => Some(4),
            Self::NoRootComplex { .. } => None,
        }
    }
}

/// Prints the signature bytes as text where they are printable ASCII, as hex otherwise.
struct Sig<'a>(&'a [u8; 4]);

impl fmt::Display for Sig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            if b.is_ascii_graphic() || b == b' ' {
                write!(f, "{}", char::from(b))?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "truncated at offset {offset:#x}: needs {needed} bytes, {available} left"
            ),
            Self::BadSignature { expected, found } => write!(
                f,
                "bad signature at offset 0x0: expected \"{}\", found \"{}\"",
                Sig(&expected),
                Sig(&found)
            ),
            Self::LengthMismatch { declared, actual } => write!(
                f,
                "table length mismatch at offset 0x4: header says {declared} bytes, got {actual}"
            ),
            Self::ZeroLength { offset } => write!(f, "zero length field at offset {offset:#x}"),
            Self::LengthTooSmall {
                offset,
                length,
                minimum,
            } => write!(
                f,
                "length {length} at offset {offset:#x} is below the minimum of {minimum}"
            ),
            Self::LengthOverrun {
                offset,
                length,
                available,
            } => write!(
                f,
                "length {length} at offset {offset:#x} runs past its container ({available} bytes left)"
            ),
            Self::OddPathLength { offset, length } => write!(
                f,
                "device scope at offset {offset:#x} has length {length}: path is not whole (device, function) pairs"
            ),
            Self::OffsetOutOfBounds {
                offset,
                value,
                limit,
            } => write!(
                f,
                "offset field {value:#x} of structure at offset {offset:#x} is out of bounds (limit {limit:#x})"
            ),
            Self::ArrayOverrun {
                offset,
                count,
                entry_size,
                available,
            } => write!(
                f,
                "array of {count} x {entry_size} bytes at offset {offset:#x} runs past its node ({available} bytes left)"
            ),
            Self::BadReference { offset, reference } => write!(
                f,
                "reference {reference:#x} at offset {offset:#x} is not the start of a node"
            ),
            Self::BadReferenceTarget { offset, node_type } => write!(
                f,
                "node at offset {offset:#x} (type {node_type}) cannot be a target in an ID mapping chain"
            ),
            Self::ReferenceCycle { offset } => {
                write!(
                    f,
                    "reference cycle: node at offset {offset:#x} reached twice"
                )
            }
            Self::ChainTooLong { offset } => {
                write!(f, "ID mapping chain too long at node offset {offset:#x}")
            }
            Self::NoMapping { offset, id } => {
                write!(
                    f,
                    "no ID mapping of the node at offset {offset:#x} covers ID {id:#x}"
                )
            }
            Self::IdOverflow { offset, id } => write!(
                f,
                "ID mapping at offset {offset:#x} overflows 32 bits for input ID {id:#x}"
            ),
            Self::NoRootComplex { segment } => {
                write!(f, "no root complex node for PCI segment {segment}")
            }
        }
    }
}

impl core::error::Error for AcpiError {}
