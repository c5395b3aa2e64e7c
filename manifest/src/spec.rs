//! The TOML manifest and its parser.
//!
//! [`parse`] only turns the text into a [`Manifest`]: it refuses what a `Manifest` cannot
//! hold (bad syntax, unknown keys, wrong types, malformed sizes and device names). Every rule
//! about values (ranges, alignment, uniqueness, fitting the machine) is [`validate`]'s, so a
//! `Manifest` built in code is checked the same way.
//!
//! [`validate`]: crate::validate

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Unexpected, Visitor};

use crate::{DEFAULT_PAGE_REQUEST_TIMEOUT_MS, ManifestError, PciAddress};

/// A parsed manifest: the partitions in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The partitions, in the order the manifest lists them (which is the blob's order).
    pub partitions: Vec<PartitionSpec>,
}

/// One `[[partition]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Unique name.
    pub name: String,
    /// Bytes of RAM.
    #[serde(deserialize_with = "size")]
    pub memory: u64,
    /// Name of the guest image.
    pub image: String,
    /// Number of virtual CPUs.
    #[serde(default = "one")]
    pub vcpus: u32,
    /// PASIDs the partition may allocate.
    #[serde(default)]
    pub pasid_quota: u32,
    /// PCI functions assigned to the partition.
    #[serde(default)]
    pub devices: Vec<DeviceRef>,
    /// Functions of [`devices`](Self::devices) that may be assigned although vsva cannot
    /// reset them (they have no Function Level Reset, no Advanced Features FLR, no
    /// D3hot->D0 reset and no secondary bus of their own to reset), each spelled exactly as
    /// in `devices`. Any other function without a reset is refused when it is assigned.
    ///
    /// vsva resets every other assigned function when it is assigned and when it is
    /// released, so nothing one owner left in it reaches the next. For these it only turns
    /// bus mastering off: the device's state (its registers, its buffers, DMA it has been
    /// armed for) passes from one owner to the next, which may read what the last one left
    /// there, and a DMA the last one armed may run once the next turns bus mastering on.
    /// List a device here only where that is acceptable.
    #[serde(default)]
    pub devices_without_reset: Vec<DeviceRef>,
    /// Command line passed to the guest.
    #[serde(default)]
    pub cmdline: String,
    /// Host-physical address to pin the RAM at; `None` lets vsva place it.
    #[serde(default)]
    pub host_base: Option<u64>,
    /// Guest-physical base of the RAM; `None` takes the machine's default.
    #[serde(default)]
    pub guest_base: Option<u64>,
    /// Milliseconds a page request or stalled DMA of one of the partition's devices waits
    /// for the guest's answer before vsva answers it itself (so a guest that never answers
    /// cannot leave the device hung); 1..=[`MAX_PAGE_REQUEST_TIMEOUT_MS`], default
    /// [`DEFAULT_PAGE_REQUEST_TIMEOUT_MS`].
    ///
    /// [`MAX_PAGE_REQUEST_TIMEOUT_MS`]: crate::MAX_PAGE_REQUEST_TIMEOUT_MS
    /// [`DEFAULT_PAGE_REQUEST_TIMEOUT_MS`]: crate::DEFAULT_PAGE_REQUEST_TIMEOUT_MS
    #[serde(default = "default_page_request_timeout_ms")]
    pub page_request_timeout_ms: u32,
}

/// Keys of a `[[partition]]` table, checked before deserializing so the error can name the
/// partition (serde's own unknown-field error cannot).
const KEYS: [&str; 11] = [
    "name",
    "memory",
    "image",
    "vcpus",
    "pasid_quota",
    "devices",
    "devices_without_reset",
    "cmdline",
    "host_base",
    "guest_base",
    "page_request_timeout_ms",
];

/// How the manifest names a PCI function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeviceRef {
    /// By address: `[segment:]bus:device.function`.
    Address(PciAddress),
    /// By IDs: `vendor:device`; must match exactly one function of the machine.
    Id {
        /// Vendor ID.
        vendor: u16,
        /// Device ID.
        device: u16,
    },
}

impl fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(address) => address.fmt(f),
            Self::Id { vendor, device } => write!(f, "{vendor:04x}:{device:04x}"),
        }
    }
}

/// Parses a manifest. Refuses bad syntax, unknown keys, wrong types, malformed sizes and
/// device names; everything else is [`validate`](crate::validate)'s job.
pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Document {
        #[serde(default)]
        partition: Vec<toml::Spanned<toml::Table>>,
    }

    let document: Document = toml::from_str(text).map_err(|e| {
        let position = e.span().map(|span| position(text, span.start));
        ManifestError::Toml {
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            message: e.message().to_owned(),
        }
    })?;

    let mut partitions = Vec::with_capacity(document.partition.len());
    for (index, entry) in document.partition.into_iter().enumerate() {
        let (line, _) = position(text, entry.span().start);
        let table = entry.into_inner();
        let Some(name) = table.get("name").and_then(toml::Value::as_str) else {
            return Err(ManifestError::NoName { index, line });
        };
        let name = name.to_owned();
        if let Some(key) = table.keys().find(|key| !KEYS.contains(&key.as_str())) {
            return Err(ManifestError::UnknownKey {
                partition: name,
                key: key.clone(),
                line,
            });
        }
        let spec = toml::Value::Table(table)
            .try_into::<PartitionSpec>()
            .map_err(|e| ManifestError::BadValue {
                partition: name,
                line,
                // toml puts the key on a second line ("...\nin `vcpus`"); keep one line.
                message: e
                    .to_string()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            })?;
        partitions.push(spec);
    }
    Ok(Manifest { partitions })
}

/// 1-based line and column of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn one() -> u32 {
    1
}

fn default_page_request_timeout_ms() -> u32 {
    DEFAULT_PAGE_REQUEST_TIMEOUT_MS
}

/// Deserializes a size: an integer of bytes or a string such as `"32M"`.
fn size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    struct SizeVisitor;

    impl Visitor<'_> for SizeVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a size: a number of bytes or a string such as \"32M\" (suffix K, M or G)")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            parse_size(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
        }
    }

    deserializer.deserialize_any(SizeVisitor)
}

/// `"4096"`, `"64K"`, `"32M"`, `"1G"` (suffixes 1024-based, either case); `None` when
/// malformed or too large for u64.
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let (digits, shift) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 10),
        b'M' | b'm' => (&text[..text.len() - 1], 20),
        b'G' | b'g' => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

impl<'de> Deserialize<'de> for DeviceRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DeviceVisitor;

        impl Visitor<'_> for DeviceVisitor {
            type Value = DeviceRef;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a PCI function as \"bus:device.function\", \"segment:bus:device.function\" \
                     or \"vendor:device\" (hexadecimal)",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DeviceRef, E> {
                parse_device(v).ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_str(DeviceVisitor)
    }
}

/// Parses `[segment:]bus:device.function` or `vendor:device` (4 hex digits each).
pub(crate) fn parse_device(text: &str) -> Option<DeviceRef> {
    fn hex(text: &str, max_digits: usize) -> Option<u32> {
        if text.is_empty()
            || text.len() > max_digits
            || !text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return None;
        }
        u32::from_str_radix(text, 16).ok()
    }

    let parts: Vec<&str> = text.split(':').collect();
    if let Some((location, function)) = parts.last()?.split_once('.') {
        let (segment, bus) = match parts[..] {
            [bus, _] => (0, bus),
            [segment, bus, _] => (hex(segment, 4)?, bus),
            _ => return None,
        };
        let device = hex(location, 2)?;
        let function = hex(function, 1)?;
        if device > 0x1f || function > 7 {
            return None;
        }
        return Some(DeviceRef::Address(PciAddress {
            segment: segment.try_into().ok()?,
            bus: hex(bus, 2)?.try_into().ok()?,
            device: device.try_into().ok()?,
            function: function.try_into().ok()?,
        }));
    }
    match parts[..] {
        [vendor, device] if vendor.len() == 4 && device.len() == 4 => Some(DeviceRef::Id {
            vendor: hex(vendor, 4)?.try_into().ok()?,
            device: hex(device, 4)?.try_into().ok()?,
        }),
        _ => None,
    }
}
