//! The manifest blob: its layout and the decoder the hypervisor runs at boot.
//!
//! xtask writes the blob with `encode` (feature `std`) and it is built into the hypervisor
//! image. The decoder trusts nothing in it: [`Blob::parse`] checks every length, offset, count
//! and string once, after which the [`Partition`] views are plain borrowed slices. It never
//! allocates and never panics on any input (this module denies indexing, unchecked
//! arithmetic and unwrapping).
//!
//! # Empty blob
//!
//! A hypervisor built without a manifest embeds zero bytes: `Blob::parse(&[])` returns the same
//! partition-less blob as [`Blob::empty`], with no [`arch`](Blob::arch). A non-empty blob
//! always has a full header, and a manifest must describe at least one partition.
//!
//! # Layout (format version 3)
//!
//! All integers are little-endian; offsets are from the start of the blob. Version 2 added
//! the page request timeout, growing records from 144 to 152 bytes. Version 3 added the
//! devices-without-reset mask in the first two of the 4 reserved bytes after it (records
//! stay 152 bytes). The decoder reads only its own version.
//!
//! Header, [`HEADER_SIZE`] bytes:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"VSVAPART"` |
//! | 8 | 4 | format version, [`FORMAT_VERSION`] |
//! | 12 | 4 | architecture: 1 = x86_64, 2 = aarch64 ([`Arch::code`](crate::Arch::code)) |
//! | 16 | 4 | partition count `n`, at most [`MAX_PARTITIONS`] |
//! | 20 | 4 | total length of the blob in bytes (must equal the slice length) |
//! | 24 | 8 | reserved, zero |
//!
//! Then `n` partition records of [`RECORD_SIZE`] bytes each, record `i` at
//! `HEADER_SIZE + i * RECORD_SIZE`:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 32 | name, ASCII `[A-Za-z0-9_-]`, zero-padded |
//! | 32 | 1 | name length, 1..=32 |
//! | 33 | 1 | vCPUs, 1..=[`MAX_VCPUS`] |
//! | 34 | 1 | device count, 0..=[`MAX_DEVICES`] |
//! | 35 | 1 | reserved, zero |
//! | 36 | 4 | PASID quota, 0..=[`MAX_PASIDS`] |
//! | 40 | 8 | memory size in bytes, a non-zero multiple of 4 KiB |
//! | 48 | 8 | host-physical base, 2 MiB aligned; 0 = not pinned (vsva allocates it) |
//! | 56 | 8 | guest-physical base of the partition's RAM, 4 KiB aligned |
//! | 64 | 4 | command line offset |
//! | 68 | 4 | command line length, at most [`MAX_CMDLINE_LEN`], UTF-8 |
//! | 72 | 4 | image offset, a multiple of 8 |
//! | 76 | 4 | image length, non-zero |
//! | 80 | 64 | 16 device slots of 4 bytes: segment (u16), bus (u8), devfn (u8: device << 3 \| function); the first `device count` are used, the rest zero |
//! | 144 | 4 | page request timeout in milliseconds, 1..=[`MAX_PAGE_REQUEST_TIMEOUT_MS`] |
//! | 148 | 2 | devices without reset: bit `i` set = device slot `i` may be assigned although it cannot be reset (`devices_without_reset`); no bit at or above the device count |
//! | 150 | 2 | reserved, zero |
//!
//! Then the data area, from `HEADER_SIZE + n * RECORD_SIZE` (a multiple of 8) to the end:
//! every distinct image once, each starting 8-aligned (zero padding between), then the
//! command lines. Every image and command line range must lie inside the data area.
//! Images are 8-aligned relative to the blob's start, so the hypervisor should embed the
//! blob 8-aligned.
#![deny(
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use core::fmt;

use crate::{
    Arch, HOST_BASE_ALIGN, MAX_CMDLINE_LEN, MAX_DEVICES, MAX_PAGE_REQUEST_TIMEOUT_MS,
    MAX_PARTITIONS, MAX_PASIDS, MAX_VCPUS, PAGE_SIZE, PciAddress, is_valid_name,
};

/// First bytes of every non-empty blob.
pub const MAGIC: [u8; 8] = *b"VSVAPART";
/// The layout version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 3;
/// Bytes in the header.
pub const HEADER_SIZE: usize = 32;
/// Bytes in one partition record.
pub const RECORD_SIZE: usize = 152;
/// Alignment of each image inside the blob.
pub const IMAGE_ALIGN: usize = 8;

// Header field offsets.
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 8;
pub(crate) const H_ARCH: usize = 12;
pub(crate) const H_COUNT: usize = 16;
pub(crate) const H_TOTAL: usize = 20;

// Record field offsets.
pub(crate) const R_NAME: usize = 0;
pub(crate) const R_NAME_LEN: usize = 32;
pub(crate) const R_VCPUS: usize = 33;
pub(crate) const R_DEVICE_COUNT: usize = 34;
pub(crate) const R_PASID_QUOTA: usize = 36;
pub(crate) const R_MEMORY: usize = 40;
pub(crate) const R_HOST_BASE: usize = 48;
pub(crate) const R_GUEST_BASE: usize = 56;
pub(crate) const R_CMDLINE_OFFSET: usize = 64;
pub(crate) const R_CMDLINE_LEN: usize = 68;
pub(crate) const R_IMAGE_OFFSET: usize = 72;
pub(crate) const R_IMAGE_LEN: usize = 76;
pub(crate) const R_DEVICES: usize = 80;
pub(crate) const R_REQUEST_TIMEOUT_MS: usize = 144;
pub(crate) const R_WITHOUT_RESET: usize = 148;
pub(crate) const R_RESERVED: usize = 150;
/// Bytes of one device slot.
pub(crate) const DEVICE_SLOT: usize = 4;

const _: () = assert!(R_DEVICES + MAX_DEVICES * DEVICE_SLOT == R_REQUEST_TIMEOUT_MS);
// The timeout (u32), the devices-without-reset mask (u16, one bit per device slot), then 2
// reserved bytes that keep records a multiple of 8 bytes.
const _: () = assert!(R_REQUEST_TIMEOUT_MS + 4 == R_WITHOUT_RESET);
const _: () = assert!(R_WITHOUT_RESET + 2 == R_RESERVED && R_RESERVED + 2 == RECORD_SIZE);
const _: () = assert!(MAX_DEVICES <= u16::BITS as usize);
const _: () =
    assert!(HEADER_SIZE.is_multiple_of(IMAGE_ALIGN) && RECORD_SIZE.is_multiple_of(IMAGE_ALIGN));

/// Why a blob was refused. `partition` fields are record indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The blob is shorter than its header or its header says it needs.
    Truncated {
        /// Bytes the blob needs.
        needed: usize,
        /// Bytes it has.
        len: usize,
    },
    /// It does not start with [`MAGIC`].
    BadMagic,
    /// A format version this decoder does not read.
    UnsupportedVersion(u32),
    /// An architecture code that is neither x86_64 nor aarch64.
    UnknownArch(u32),
    /// The header's total length is less than the blob's length (trailing bytes).
    LengthMismatch {
        /// The total length in the header.
        header: u32,
        /// The blob's actual length.
        len: usize,
    },
    /// More than [`MAX_PARTITIONS`] partitions.
    TooManyPartitions(u32),
    /// A record uses more than [`MAX_DEVICES`] device slots.
    TooManyDevices {
        /// Record index.
        partition: u32,
        /// The device count in the record.
        count: u8,
    },
    /// An image or command line range is not inside the data area.
    OutOfBounds {
        /// Record index.
        partition: u32,
        /// `"image"` or `"cmdline"`.
        field: &'static str,
        /// Offset in the record.
        offset: u32,
        /// Length in the record.
        len: u32,
    },
    /// A name or command line is not UTF-8.
    BadUtf8 {
        /// Record index.
        partition: u32,
        /// `"name"` or `"cmdline"`.
        field: &'static str,
    },
    /// A field holds a value no valid manifest produces (a zero vCPU count, an unaligned
    /// base, a name with forbidden characters, ...).
    BadValue {
        /// Record index.
        partition: u32,
        /// The field's name.
        field: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, len } => write!(
                f,
                "manifest blob truncated: {len} bytes, needs at least {needed}"
            ),
            Self::BadMagic => f.write_str("manifest blob does not start with \"VSVAPART\""),
            Self::UnsupportedVersion(v) => write!(
                f,
                "manifest blob format version {v} is not supported (this build reads {FORMAT_VERSION})"
            ),
            Self::UnknownArch(code) => {
                write!(f, "manifest blob has unknown architecture code {code}")
            }
            Self::LengthMismatch { header, len } => write!(
                f,
                "manifest blob is {len} bytes but its header says {header}"
            ),
            Self::TooManyPartitions(n) => write!(
                f,
                "manifest blob has {n} partitions, more than the {MAX_PARTITIONS} allowed"
            ),
            Self::TooManyDevices { partition, count } => write!(
                f,
                "manifest blob partition {partition} has {count} devices, more than the {MAX_DEVICES} allowed"
            ),
            Self::OutOfBounds {
                partition,
                field,
                offset,
                len,
            } => write!(
                f,
                "manifest blob partition {partition}: {field} at offset {offset:#x} length {len:#x} is outside the data area"
            ),
            Self::BadUtf8 { partition, field } => {
                write!(
                    f,
                    "manifest blob partition {partition}: {field} is not UTF-8"
                )
            }
            Self::BadValue { partition, field } => {
                write!(f, "manifest blob partition {partition}: invalid {field}")
            }
        }
    }
}

impl core::error::Error for DecodeError {}

/// A checked manifest blob.
#[derive(Clone, Copy)]
pub struct Blob<'a> {
    bytes: &'a [u8],
    count: u32,
    arch: Option<Arch>,
}

impl<'a> Blob<'a> {
    /// The blob of a hypervisor built without a manifest: no partitions, no architecture.
    pub const fn empty() -> Self {
        Self {
            bytes: &[],
            count: 0,
            arch: None,
        }
    }

    /// Checks `bytes` as a whole (header, every record, every string and range); zero bytes
    /// is the [empty](Self::empty) blob.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return Ok(Self::empty());
        }
        let header = bytes.get(..HEADER_SIZE).ok_or(DecodeError::Truncated {
            needed: HEADER_SIZE,
            len: bytes.len(),
        })?;
        if read::<8>(header, H_MAGIC) != Some(MAGIC) {
            return Err(DecodeError::BadMagic);
        }
        let version = u32_at(header, H_VERSION);
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let arch_code = u32_at(header, H_ARCH);
        let arch = Arch::from_code(arch_code).ok_or(DecodeError::UnknownArch(arch_code))?;
        let count = u32_at(header, H_COUNT);
        if usize::try_from(count).map_or(true, |n| n > MAX_PARTITIONS) {
            return Err(DecodeError::TooManyPartitions(count));
        }
        let total = u32_at(header, H_TOTAL);
        let total_len = usize::try_from(total).unwrap_or(usize::MAX);
        if total_len > bytes.len() {
            return Err(DecodeError::Truncated {
                needed: total_len,
                len: bytes.len(),
            });
        }
        if total_len < bytes.len() {
            return Err(DecodeError::LengthMismatch {
                header: total,
                len: bytes.len(),
            });
        }
        // `count <= MAX_PARTITIONS`, so this cannot overflow; saturate all the same.
        let records_end = records_end(count);
        if records_end > bytes.len() {
            return Err(DecodeError::Truncated {
                needed: records_end,
                len: bytes.len(),
            });
        }
        for index in 0..count {
            decode_record(bytes, index)?;
        }
        Ok(Self {
            bytes,
            count,
            arch: Some(arch),
        })
    }

    /// The architecture the blob was built for; `None` for the empty blob.
    pub fn arch(&self) -> Option<Arch> {
        self.arch
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        usize::try_from(self.count).unwrap_or(0)
    }

    /// Whether the blob describes no partitions.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The blob's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The partitions, in manifest order.
    pub fn partitions(&self) -> Partitions<'a> {
        Partitions {
            bytes: self.bytes,
            next: 0,
            count: self.count,
        }
    }
}

impl Default for Blob<'_> {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("len", &self.bytes.len())
            .field("arch", &self.arch)
            .field("partitions", &self.count)
            .finish()
    }
}

/// Iterator over a blob's partitions, from [`Blob::partitions`].
#[derive(Clone, Debug)]
pub struct Partitions<'a> {
    bytes: &'a [u8],
    next: u32,
    count: u32,
}

impl<'a> Iterator for Partitions<'a> {
    type Item = Partition<'a>;

    fn next(&mut self) -> Option<Partition<'a>> {
        while self.next < self.count {
            let index = self.next;
            self.next = self.next.saturating_add(1);
            // `Blob::parse` checked every record, so this always succeeds; a failure would
            // end in a skipped record, never a panic.
            if let Ok(partition) = decode_record(self.bytes, index) {
                return Some(partition);
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.count.saturating_sub(self.next)).unwrap_or(0);
        (0, Some(left))
    }
}

/// One partition of a blob, borrowing its strings and image from the blob.
#[derive(Clone, Copy)]
pub struct Partition<'a> {
    name: &'a str,
    memory: u64,
    host_base: u64,
    guest_base: u64,
    vcpus: u32,
    pasid_quota: u32,
    page_request_timeout_ms: u32,
    devices: &'a [u8],
    /// Bit `i`: device slot `i` may be assigned without a reset; no bit past the devices.
    without_reset: u16,
    cmdline: &'a str,
    image: &'a [u8],
}

impl<'a> Partition<'a> {
    /// The partition's name.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Bytes of RAM.
    pub fn memory(&self) -> u64 {
        self.memory
    }

    /// Host-physical base the RAM is pinned at, if the manifest pinned it.
    pub fn host_base(&self) -> Option<u64> {
        (self.host_base != 0).then_some(self.host_base)
    }

    /// Guest-physical base of the RAM.
    pub fn guest_base(&self) -> u64 {
        self.guest_base
    }

    /// Number of virtual CPUs.
    pub fn vcpus(&self) -> u32 {
        self.vcpus
    }

    /// PASIDs the partition may allocate.
    pub fn pasid_quota(&self) -> u32 {
        self.pasid_quota
    }

    /// Milliseconds a page request or stalled DMA of one of the partition's devices waits
    /// for the guest's answer before vsva answers it itself;
    /// 1..=[`MAX_PAGE_REQUEST_TIMEOUT_MS`].
    pub fn page_request_timeout_ms(&self) -> u32 {
        self.page_request_timeout_ms
    }

    /// The PCI functions assigned to the partition, in slot order (the manifest's).
    pub fn devices(&self) -> impl Iterator<Item = PciAddress> + use<'a> {
        self.slots().map(|(_, address)| address)
    }

    /// The functions of [`devices`](Self::devices) the manifest lets vsva assign although it
    /// cannot reset them (`devices_without_reset`), in slot order. Their state passes from
    /// one owner to the next; vsva only turns their bus mastering off.
    pub fn devices_without_reset(&self) -> impl Iterator<Item = PciAddress> + use<'a> {
        let mask = self.without_reset;
        self.slots()
            .filter(move |&(slot, _)| bit(mask, slot))
            .map(|(_, address)| address)
    }

    /// Whether device slot `slot` (its position in [`devices`](Self::devices)) may be
    /// assigned without a reset; `false` for a slot past the devices.
    pub fn may_skip_reset(&self, slot: usize) -> bool {
        bit(self.without_reset, slot)
    }

    /// `(slot, address)` of each device.
    fn slots(&self) -> impl Iterator<Item = (usize, PciAddress)> + use<'a> {
        self.devices
            .chunks_exact(DEVICE_SLOT)
            .enumerate()
            .filter_map(|(slot, bytes)| match *bytes {
                [lo, hi, bus, devfn] => Some((
                    slot,
                    PciAddress::from_devfn(u16::from_le_bytes([lo, hi]), bus, devfn),
                )),
                _ => None,
            })
    }

    /// The guest's command line (may be empty).
    pub fn cmdline(&self) -> &'a str {
        self.cmdline
    }

    /// The guest image as xtask stored it.
    pub fn image(&self) -> &'a [u8] {
        self.image
    }
}

impl fmt::Debug for Partition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Devices<'b>(&'b Partition<'b>, bool);
        impl fmt::Debug for Devices<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.1 {
                    f.debug_list()
                        .entries(self.0.devices_without_reset())
                        .finish()
                } else {
                    f.debug_list().entries(self.0.devices()).finish()
                }
            }
        }
        f.debug_struct("Partition")
            .field("name", &self.name)
            .field("memory", &self.memory)
            .field("host_base", &self.host_base())
            .field("guest_base", &self.guest_base)
            .field("vcpus", &self.vcpus)
            .field("pasid_quota", &self.pasid_quota)
            .field("page_request_timeout_ms", &self.page_request_timeout_ms)
            .field("devices", &Devices(self, false))
            .field("devices_without_reset", &Devices(self, true))
            .field("cmdline", &self.cmdline)
            .field("image_len", &self.image.len())
            .finish()
    }
}

/// End of the record table for `count` partitions (saturating).
fn records_end(count: u32) -> usize {
    usize::try_from(count)
        .unwrap_or(usize::MAX)
        .saturating_mul(RECORD_SIZE)
        .saturating_add(HEADER_SIZE)
}

/// Reads `N` bytes at `at`, `None` past the end.
fn read<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Little-endian u32 at `at`; callers only read inside a slice they have checked the length
/// of, so the 0 fallback is never taken (and would be refused as a bad value if it were).
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    read::<4>(bytes, at).map_or(0, u32::from_le_bytes)
}

/// Little-endian u64 at `at`, as [`u32_at`].
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    read::<8>(bytes, at).map_or(0, u64::from_le_bytes)
}

/// Little-endian u16 at `at`, as [`u32_at`].
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    read::<2>(bytes, at).map_or(0, u16::from_le_bytes)
}

/// Whether bit `index` of `mask` is set; `false` past its 16 bits.
fn bit(mask: u16, index: usize) -> bool {
    u32::try_from(index)
        .ok()
        .and_then(|index| mask.checked_shr(index))
        .is_some_and(|shifted| shifted & 1 == 1)
}

/// Byte at `at`, as [`u32_at`].
fn u8_at(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or(0)
}

/// Checks record `index` of `bytes` (whose header and length are already checked) and
/// builds its view.
fn decode_record(bytes: &[u8], index: u32) -> Result<Partition<'_>, DecodeError> {
    let data_start = records_end(u32_at(bytes, H_COUNT));
    let start = records_end(index);
    let record = start
        .checked_add(RECORD_SIZE)
        .and_then(|end| bytes.get(start..end))
        .ok_or(DecodeError::Truncated {
            needed: start.saturating_add(RECORD_SIZE),
            len: bytes.len(),
        })?;
    let bad = |field| DecodeError::BadValue {
        partition: index,
        field,
    };

    let name_len = usize::from(u8_at(record, R_NAME_LEN));
    let name_bytes = record
        .get(R_NAME..R_NAME.saturating_add(name_len))
        .filter(|_| name_len <= crate::MAX_NAME_LEN)
        .ok_or(bad("name"))?;
    let name = core::str::from_utf8(name_bytes).map_err(|_| DecodeError::BadUtf8 {
        partition: index,
        field: "name",
    })?;
    if !is_valid_name(name) {
        return Err(bad("name"));
    }

    let vcpus = u32::from(u8_at(record, R_VCPUS));
    if vcpus == 0 || vcpus > MAX_VCPUS {
        return Err(bad("vcpus"));
    }
    let device_count = u8_at(record, R_DEVICE_COUNT);
    if usize::from(device_count) > MAX_DEVICES {
        return Err(DecodeError::TooManyDevices {
            partition: index,
            count: device_count,
        });
    }
    let devices = record
        .get(R_DEVICES..)
        .and_then(|slots| slots.get(..usize::from(device_count).saturating_mul(DEVICE_SLOT)))
        .ok_or(bad("devices"))?;
    // No bit for a slot the record does not use (`device_count <= MAX_DEVICES <= 16`).
    let without_reset = u16_at(record, R_WITHOUT_RESET);
    if without_reset
        .checked_shr(u32::from(device_count))
        .is_some_and(|beyond| beyond != 0)
    {
        return Err(bad("devices_without_reset"));
    }
    if u16_at(record, R_RESERVED) != 0 {
        return Err(bad("reserved"));
    }
    let pasid_quota = u32_at(record, R_PASID_QUOTA);
    if pasid_quota > MAX_PASIDS {
        return Err(bad("pasid_quota"));
    }
    let page_request_timeout_ms = u32_at(record, R_REQUEST_TIMEOUT_MS);
    if page_request_timeout_ms == 0 || page_request_timeout_ms > MAX_PAGE_REQUEST_TIMEOUT_MS {
        return Err(bad("page_request_timeout_ms"));
    }
    let memory = u64_at(record, R_MEMORY);
    if memory == 0 || !memory.is_multiple_of(PAGE_SIZE) {
        return Err(bad("memory"));
    }
    let host_base = u64_at(record, R_HOST_BASE);
    if !host_base.is_multiple_of(HOST_BASE_ALIGN) || host_base.checked_add(memory).is_none() {
        return Err(bad("host_base"));
    }
    let guest_base = u64_at(record, R_GUEST_BASE);
    if !guest_base.is_multiple_of(PAGE_SIZE) || guest_base.checked_add(memory).is_none() {
        return Err(bad("guest_base"));
    }

    let data = |field, offset_at, len_at| {
        let offset = u32_at(record, offset_at);
        let len = u32_at(record, len_at);
        let out_of_bounds = DecodeError::OutOfBounds {
            partition: index,
            field,
            offset,
            len,
        };
        let start = usize::try_from(offset).map_err(|_| out_of_bounds)?;
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| start.checked_add(len))
            .ok_or(out_of_bounds)?;
        if start < data_start {
            return Err(out_of_bounds);
        }
        bytes.get(start..end).ok_or(out_of_bounds)
    };
    let cmdline = data("cmdline", R_CMDLINE_OFFSET, R_CMDLINE_LEN)?;
    if cmdline.len() > MAX_CMDLINE_LEN {
        return Err(bad("cmdline"));
    }
    let cmdline = core::str::from_utf8(cmdline).map_err(|_| DecodeError::BadUtf8 {
        partition: index,
        field: "cmdline",
    })?;
    let image = data("image", R_IMAGE_OFFSET, R_IMAGE_LEN)?;
    if image.is_empty() || !u32_at(record, R_IMAGE_OFFSET).is_multiple_of(IMAGE_ALIGN as u32) {
        return Err(bad("image"));
    }

    Ok(Partition {
        name,
        memory,
        host_base,
        guest_base,
        vcpus,
        pasid_quota,
        page_request_timeout_ms,
        devices,
        without_reset,
        cmdline,
        image,
    })
}
