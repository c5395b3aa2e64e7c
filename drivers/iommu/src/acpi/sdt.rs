//! The ACPI system description table header (ACPI 6.5 §5.2.6) and the bounds-checked reads
//! both parsers are built on.

use core::mem::size_of;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::AcpiError;

/// The 36-byte header every ACPI description table starts with (ACPI 6.5 §5.2.6, Table 5.4).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SdtHeader {
    signature: [u8; 4],
    length: U32,
    revision: u8,
    checksum: u8,
    oem_id: [u8; 6],
    oem_table_id: [u8; 8],
    oem_revision: U32,
    creator_id: [u8; 4],
    creator_revision: U32,
}
const _: () = assert!(size_of::<SdtHeader>() == 36);

impl SdtHeader {
    /// Reads the header at the start of `bytes` (which may hold only the header), for example to
    /// learn from [`SdtHeader::length`] how much memory to map before calling a table parser.
    pub fn peek(bytes: &[u8]) -> Result<&Self, AcpiError> {
        read::<Self>(bytes, 0, bytes.len())
    }

    /// Signature, such as `b"DMAR"` or `b"IORT"`.
    pub fn signature(&self) -> [u8; 4] {
        self.signature
    }
    /// Length of the whole table in bytes, header included.
    pub fn length(&self) -> u32 {
        self.length.get()
    }
    /// Revision of the table's format.
    pub fn revision(&self) -> u8 {
        self.revision
    }
    /// The checksum byte, chosen so that all bytes of the table sum to zero.
    pub fn checksum(&self) -> u8 {
        self.checksum
    }
    /// OEM ID. Raw bytes: firmware puts non-ASCII bytes here too.
    pub fn oem_id(&self) -> [u8; 6] {
        self.oem_id
    }
    /// OEM table ID. Raw bytes.
    pub fn oem_table_id(&self) -> [u8; 8] {
        self.oem_table_id
    }
    /// OEM revision.
    pub fn oem_revision(&self) -> u32 {
        self.oem_revision.get()
    }
    /// Vendor ID of the tool that built the table (for example `INTL` for iasl).
    pub fn creator_id(&self) -> [u8; 4] {
        self.creator_id
    }
    /// Revision of the tool that built the table.
    pub fn creator_revision(&self) -> u32 {
        self.creator_revision.get()
    }
}

/// Checks signature and length of a whole table and computes its checksum.
///
/// `bytes` must be exactly the table: a Length field that disagrees with `bytes.len()` is
/// refused, because that is how tables damaged in transit show. Returns the header and whether
/// the checksum is right; a wrong checksum alone is not fatal (firmware ships such tables and
/// Linux uses them with a warning).
pub(crate) fn parse_table<'a>(
    bytes: &'a [u8],
    signature: &[u8; 4],
) -> Result<(&'a SdtHeader, bool), AcpiError> {
    let header = SdtHeader::peek(bytes)?;
    if header.signature != *signature {
        return Err(AcpiError::BadSignature {
            expected: *signature,
            found: header.signature,
        });
    }
    let declared = header.length.get();
    if usize::try_from(declared).ok() != Some(bytes.len()) {
        return Err(AcpiError::LengthMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let sum = bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b));
    Ok((header, sum == 0))
}

/// Reads a `T` at `offset` of `bytes`, where the containing area ends at `end`
/// (`end <= bytes.len()` is not assumed). Fails with [`AcpiError::Truncated`] naming `offset`.
pub(crate) fn read<T>(bytes: &[u8], offset: usize, end: usize) -> Result<&T, AcpiError>
where
    T: FromBytes + KnownLayout + Immutable + Unaligned,
{
    let area = bytes.get(..end.min(bytes.len())).unwrap_or(&[]);
    let available = area.len().saturating_sub(offset);
    let truncated = AcpiError::Truncated {
        offset,
        needed: size_of::<T>(),
        available,
    };
    let rest = area.get(offset..).ok_or(truncated)?;
    T::ref_from_prefix(rest)
        .map(|(t, _)| t)
        .map_err(|_| truncated)
}

/// Reads `count` entries of `T` at `offset`, which must end by `end`.
pub(crate) fn read_slice<T>(
    bytes: &[u8],
    offset: usize,
    count: u32,
    end: usize,
) -> Result<&[T], AcpiError>
where
    T: FromBytes + KnownLayout + Immutable + Unaligned,
{
    let entry_size = size_of::<T>();
    let area = bytes.get(..end.min(bytes.len())).unwrap_or(&[]);
    let available = area.len().saturating_sub(offset);
    let overrun = AcpiError::ArrayOverrun {
        offset,
        count,
        entry_size,
        available,
    };
    let n = usize::try_from(count).map_err(|_| overrun)?;
    let len = n.checked_mul(entry_size).ok_or(overrun)?;
    let stop = offset.checked_add(len).ok_or(overrun)?;
    let raw = area.get(offset..stop).ok_or(overrun)?;
    <[T]>::ref_from_bytes_with_elems(raw, n).map_err(|_| overrun)
}

/// `a + b` for offsets, failing as out of bounds instead of overflowing.
pub(crate) fn add(base: usize, delta: u64, limit: usize) -> Result<usize, AcpiError> {
    usize::try_from(delta)
        .ok()
        .and_then(|d| base.checked_add(d))
        .ok_or(AcpiError::OffsetOutOfBounds {
            offset: base,
            value: delta,
            limit,
        })
}

/// The bytes of a NUL-terminated name field up to (not including) the first NUL; the whole
/// field when there is none. Padding after the NUL is ignored.
pub(crate) fn until_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    field.get(..end).unwrap_or(field)
}
