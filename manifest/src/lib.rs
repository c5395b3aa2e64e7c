//! The partition manifest: which guest kernels vsva runs, in which partitions, with what.
//!
//! The writer and the reader of the manifest blob live in one crate so they cannot drift
//! apart:
//!
//! - on the host (feature `std`, used by xtask): `parse` reads the TOML manifest (format
//!   below), `validate` checks it against the target `Machine` and reports
//!   every problem at once, and `encode` packs it with the guest images into one blob;
//! - in the hypervisor (`no_std`, no allocation, never panics): [`Blob::parse`] checks a blob
//!   and [`Blob::partitions`] yields borrowed [`Partition`] views. The layout is documented
//!   in [`blob`].
//!
//! # Manifest format
//!
//! One `[[partition]]` table per partition, in the order the blob keeps. `parse` refuses bad
//! syntax, unknown keys, wrong types and malformed sizes or device names; the rules on values
//! (ranges, alignment, uniqueness, fitting the machine) are `validate`'s, so a `Manifest`
//! built in code gets the same checks.
//!
//! ```toml
//! [[partition]]
//! name = "alpha"              # required: 1..=32 of [A-Za-z0-9_-], unique
//! memory = "32M"              # required: bytes, or a string with suffix K, M or G (1024-based);
//!                             # a non-zero multiple of 4 KiB
//! image = "reference"         # required: a guest image name, resolved by xtask
//! vcpus = 1                   # 1..=8, default 1
//! pasid_quota = 8             # 0..=1_048_575, default 0
//! devices = ["00:01.0", "0000:00:02.0", "1234:11e8"]  # [segment:]bus:device.function or vendor:device, hex
//! devices_without_reset = ["1234:11e8"]  # default none: entries of devices, named the same
//!                             # way, that vsva may assign although it cannot reset them
//!                             # (no FLR or PM reset); their state passes between owners
//! cmdline = "test=memory"     # at most 255 bytes, default empty
//! host_base = 0x5000_0000     # pin the RAM at this host-physical address (2 MiB aligned)
//! guest_base = 0x4000_0000    # guest-physical base of the RAM (4 KiB aligned), default per machine
//! page_request_timeout_ms = 1000  # 1..=60_000, default 1000: how long a device's page
//!                             # request or stalled DMA waits for the guest before vsva answers
//! ```
//!
//! `examples/two-partitions.toml` is a complete manifest.
//!
//! The std half is also compiled for the crate's own unit tests, so `cargo test` without
//! features runs them.
#![no_std]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate alloc;
#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod blob;
#[cfg(any(test, feature = "std"))]
mod encode;
#[cfg(any(test, feature = "std"))]
mod error;
#[cfg(any(test, feature = "std"))]
mod spec;
#[cfg(any(test, feature = "std"))]
mod validate;

#[cfg(test)]
mod tests;

use core::fmt;

pub use blob::{Blob, DecodeError, Partition, Partitions};
#[cfg(any(test, feature = "std"))]
pub use encode::encode;
#[cfg(any(test, feature = "std"))]
pub use error::ManifestError;
#[cfg(any(test, feature = "std"))]
pub use spec::{DeviceRef, Manifest, PartitionSpec, parse};
#[cfg(any(test, feature = "std"))]
pub use validate::{Machine, PciFunction, validate};

/// Most partitions a manifest may describe; bounds the decoder's work on a hostile blob.
pub const MAX_PARTITIONS: usize = 64;
/// Longest partition name in bytes (names are ASCII: `[A-Za-z0-9_-]`).
pub const MAX_NAME_LEN: usize = 32;
/// Most virtual CPUs per partition.
pub const MAX_VCPUS: u32 = 8;
/// Most PCI functions assigned to one partition (the blob record has room for this many).
pub const MAX_DEVICES: usize = 16;
/// Longest guest command line in bytes.
pub const MAX_CMDLINE_LEN: usize = 255;
/// PASIDs there are to hand out: 20-bit PASIDs minus PASID 0, which means "no PASID".
pub const MAX_PASIDS: u32 = (1 << 20) - 1;
/// Milliseconds a page request or stalled DMA of a partition's device waits for the guest's
/// answer, when the manifest does not say, before vsva answers it itself.
pub const DEFAULT_PAGE_REQUEST_TIMEOUT_MS: u32 = 1000;
/// Longest `page_request_timeout_ms` a manifest may ask for (one minute): a device stays
/// stalled that long behind a guest that never answers.
pub const MAX_PAGE_REQUEST_TIMEOUT_MS: u32 = 60_000;
/// Granule of partition memory sizes and guest-physical bases.
pub const PAGE_SIZE: u64 = 4 << 10;
/// Alignment of a pinned host base, so stage 2 can map the partition with 2 MiB blocks.
pub const HOST_BASE_ALIGN: u64 = 2 << 20;
/// Room a partition needs above its loaded image (stack, page tables).
pub const IMAGE_HEADROOM: u64 = 64 << 10;

/// The architecture a blob was built for; the hypervisor refuses a blob for the other one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86_64 (`q35`, VT-d).
    X86_64,
    /// AArch64 (`virt`, SMMUv3).
    Aarch64,
}

impl Arch {
    /// The code stored in the blob header.
    pub const fn code(self) -> u32 {
        match self {
            Self::X86_64 => 1,
            Self::Aarch64 => 2,
        }
    }

    /// The architecture whose header code is `code`.
    pub const fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(Self::X86_64),
            2 => Some(Self::Aarch64),
            _ => None,
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::X86_64 => "x86_64",
            Self::Aarch64 => "aarch64",
        })
    }
}

/// A PCI function address. `device < 32` and `function < 8` by construction everywhere in
/// this crate (the parser and the decoder guarantee it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// PCI segment (domain).
    pub segment: u16,
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..=31.
    pub device: u8,
    /// Function number, 0..=7.
    pub function: u8,
}

impl PciAddress {
    /// Device and function packed as in a Requester ID: device in bits 7:3, function in bits 2:0.
    pub const fn devfn(self) -> u8 {
        ((self.device & 0x1f) << 3) | (self.function & 0x7)
    }

    /// The address of `devfn` (as packed by [`Self::devfn`]) on `segment:bus`.
    pub const fn from_devfn(segment: u16, bus: u8, devfn: u8) -> Self {
        Self {
            segment,
            bus,
            device: devfn >> 3,
            function: devfn & 0x7,
        }
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.segment, self.bus, self.device, self.function
        )
    }
}

/// Whether `name` is a valid partition name: 1..=[`MAX_NAME_LEN`] bytes of `[A-Za-z0-9_-]`.
/// Shared by validation and the decoder so both accept the same names.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
