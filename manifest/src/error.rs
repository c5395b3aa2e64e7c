//! Everything [`parse`](crate::parse), [`validate`](crate::validate) and
//! [`encode`](crate::encode) can refuse, each with a one-sentence message naming the
//! partition and the offending value.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use crate::{
    DeviceRef, IMAGE_HEADROOM, MAX_CMDLINE_LEN, MAX_DEVICES, MAX_NAME_LEN,
    MAX_PAGE_REQUEST_TIMEOUT_MS, MAX_PARTITIONS, MAX_PASIDS, MAX_VCPUS, PAGE_SIZE, PciAddress,
};

/// A problem with a manifest. Host-physical and guest-physical ranges are half-open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestError {
    /// The text is not TOML, or not a list of `[[partition]]` tables.
    Toml {
        /// 1-based line, when toml knows it.
        line: Option<usize>,
        /// 1-based column, when toml knows it.
        column: Option<usize>,
        /// toml's description.
        message: String,
    },
    /// A `[[partition]]` table without a string `name`.
    NoName {
        /// 0-based position of the table in the manifest.
        index: usize,
        /// Line of the table.
        line: usize,
    },
    /// A key a partition table may not have.
    UnknownKey {
        /// The partition.
        partition: String,
        /// The key.
        key: String,
        /// Line of the partition's table.
        line: usize,
    },
    /// A value of the wrong type or form, or a required key missing.
    BadValue {
        /// The partition.
        partition: String,
        /// Line of the partition's table.
        line: usize,
        /// What is wrong, with the key and the value.
        message: String,
    },
    /// The manifest describes no partition.
    NoPartitions,
    /// More than [`MAX_PARTITIONS`] partitions.
    TooManyPartitions {
        /// How many the manifest has.
        count: usize,
    },
    /// A name that is empty, too long or has characters other than `[A-Za-z0-9_-]`.
    BadName {
        /// 0-based position of the partition.
        index: usize,
        /// The name.
        name: String,
    },
    /// Several partitions share a name.
    DuplicateName {
        /// The name.
        name: String,
        /// How many partitions have it.
        count: usize,
    },
    /// vCPUs outside 1..=[`MAX_VCPUS`].
    BadVcpus {
        /// The partition.
        partition: String,
        /// The value.
        vcpus: u32,
    },
    /// A PASID quota above [`MAX_PASIDS`].
    BadPasidQuota {
        /// The partition.
        partition: String,
        /// The value.
        quota: u32,
    },
    /// A `page_request_timeout_ms` outside 1..=[`MAX_PAGE_REQUEST_TIMEOUT_MS`].
    BadPageRequestTimeout {
        /// The partition.
        partition: String,
        /// The value.
        ms: u32,
    },
    /// The partitions' PASID quotas add up to more than [`MAX_PASIDS`].
    PasidTotal {
        /// The sum.
        total: u64,
        /// Each partition with a non-zero quota.
        quotas: Vec<(String, u32)>,
    },
    /// A memory size that is zero or not a multiple of 4 KiB.
    BadMemory {
        /// The partition.
        partition: String,
        /// The value.
        memory: u64,
    },
    /// A command line longer than [`MAX_CMDLINE_LEN`] bytes.
    CmdlineTooLong {
        /// The partition.
        partition: String,
        /// Its length in bytes.
        len: usize,
    },
    /// More than [`MAX_DEVICES`] devices.
    TooManyDevices {
        /// The partition.
        partition: String,
        /// How many it lists.
        count: usize,
    },
    /// `host_base` is not 2 MiB aligned or `guest_base` not 4 KiB aligned.
    Misaligned {
        /// The partition.
        partition: String,
        /// `"host_base"` or `"guest_base"`.
        field: &'static str,
        /// The value.
        value: u64,
        /// The alignment it needs.
        align: u64,
    },
    /// `host_base = 0`, which the blob uses for "not pinned".
    HostBaseZero {
        /// The partition.
        partition: String,
    },
    /// The base plus the memory size wraps past the end of the address space.
    RangeOverflow {
        /// The partition.
        partition: String,
        /// `"host_base"` or `"guest_base"`.
        field: &'static str,
        /// The base.
        base: u64,
        /// The memory size.
        memory: u64,
    },
    /// Pinned RAM not inside one RAM range of the machine.
    NotInRam {
        /// The partition.
        partition: String,
        /// Its host-physical RAM.
        range: Range<u64>,
    },
    /// Pinned RAM overlapping the hypervisor's own memory.
    OverlapsHypervisor {
        /// The partition.
        partition: String,
        /// Its host-physical RAM.
        range: Range<u64>,
        /// The hypervisor's range.
        hypervisor: Range<u64>,
    },
    /// Pinned RAM of two partitions overlapping.
    OverlapsPartition {
        /// The partition listed later.
        partition: String,
        /// Its host-physical RAM.
        range: Range<u64>,
        /// The partition listed earlier.
        other: String,
        /// That partition's host-physical RAM.
        other_range: Range<u64>,
    },
    /// Guest RAM overlapping the emulated PCI configuration window.
    OverlapsConfigWindow {
        /// The partition.
        partition: String,
        /// Its guest-physical RAM.
        range: Range<u64>,
        /// The window.
        window: Range<u64>,
    },
    /// Guest RAM overlapping the window of vsva's IOMMU structures.
    OverlapsTableWindow {
        /// The partition.
        partition: String,
        /// Its guest-physical RAM.
        range: Range<u64>,
        /// The window.
        window: Range<u64>,
    },
    /// An image name the machine description does not know.
    UnknownImage {
        /// The partition.
        partition: String,
        /// The image name.
        image: String,
    },
    /// The image loads below the partition's guest RAM.
    ImageOutsideRam {
        /// The partition.
        partition: String,
        /// The image name.
        image: String,
        /// Guest-physical span the image loads to.
        span: Range<u64>,
        /// The partition's guest-physical RAM.
        ram: Range<u64>,
    },
    /// The RAM does not hold the image plus [`IMAGE_HEADROOM`].
    TooLittleMemory {
        /// The partition.
        partition: String,
        /// The image name.
        image: String,
        /// Its memory size.
        memory: u64,
        /// The size it needs, a multiple of 4 KiB.
        needed: u64,
    },
    /// No function of the machine at a device address.
    NoSuchFunctionAt {
        /// The partition.
        partition: String,
        /// The address.
        address: PciAddress,
    },
    /// No function of the machine with a vendor:device pair.
    NoSuchDevice {
        /// The partition.
        partition: String,
        /// Vendor ID.
        vendor: u16,
        /// Device ID.
        device: u16,
    },
    /// A vendor:device pair matching several functions.
    AmbiguousDevice {
        /// The partition.
        partition: String,
        /// Vendor ID.
        vendor: u16,
        /// Device ID.
        device: u16,
        /// Every matching function.
        addresses: Vec<PciAddress>,
    },
    /// A function assigned to two partitions.
    DeviceAssignedTwice {
        /// The partition listed later.
        partition: String,
        /// How it names the function.
        device: DeviceRef,
        /// The function.
        address: PciAddress,
        /// The partition that has it already.
        owner: String,
    },
    /// A function listed twice by one partition.
    DeviceListedTwice {
        /// The partition.
        partition: String,
        /// How the second mention names it.
        device: DeviceRef,
        /// The function.
        address: PciAddress,
    },
    /// A `devices_without_reset` entry that is not one of the partition's `devices`
    /// (spelled the same way: the same address, or the same vendor:device pair).
    DeviceWithoutResetNotAssigned {
        /// The partition.
        partition: String,
        /// The entry.
        device: DeviceRef,
    },
    /// A `devices_without_reset` entry listed more than once; reported once per entry.
    DeviceWithoutResetListedTwice {
        /// The partition.
        partition: String,
        /// The entry.
        device: DeviceRef,
    },
    /// The partitions need more memory than the machine has for them.
    MemoryTotal {
        /// Sum of the partitions' memory.
        total: u64,
        /// RAM left for partitions: `ram - reserve - hypervisor`.
        available: u64,
        /// The machine's RAM.
        ram: u64,
        /// What vsva keeps for itself.
        reserve: u64,
        /// Size of vsva's own range.
        hypervisor: u64,
        /// Each partition's memory.
        partitions: Vec<(String, u64)>,
    },
    /// Encoding: no bytes given for a partition's image.
    MissingImageBytes {
        /// The partition.
        partition: String,
        /// The image name.
        image: String,
    },
    /// Encoding: an image of zero bytes.
    EmptyImage {
        /// The partition.
        partition: String,
        /// The image name.
        image: String,
    },
    /// Encoding: the blob would exceed 4 GiB, the most its 32-bit offsets reach.
    BlobTooLarge {
        /// The size it would have.
        size: u64,
    },
}

/// `0x1000..0x2000`.
struct Hex<'a>(&'a Range<u64>);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.0.start, self.0.end)
    }
}

/// A byte count in MiB: `32 MiB`, `1.50 MiB`.
pub(crate) struct Mib(pub u64);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: u64 = 1 << 20;
        let (whole, rest) = (self.0 / MIB, self.0 % MIB);
        if rest == 0 {
            write!(f, "{whole} MiB")
        } else {
            write!(f, "{whole}.{:02} MiB", rest * 100 / MIB)
        }
    }
}

/// `alpha 32 MiB, beta 64 MiB`.
struct List<'a, T>(&'a [(String, T)], fn(&T) -> String);

impl<T> fmt::Display for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.0.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}\"{name}\" {}", (self.1)(value))?;
        }
        Ok(())
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use alloc::string::ToString;
        match self {
            Self::Toml {
                line: Some(line),
                column: Some(column),
                message,
            } => write!(f, "manifest line {line}, column {column}: {message}"),
            Self::Toml { message, .. } => write!(f, "manifest: {message}"),
            Self::NoName { index, line } => write!(
                f,
                "[[partition]] number {} (line {line}) has no name; add name = \"...\"",
                index + 1
            ),
            Self::UnknownKey {
                partition,
                key,
                line,
            } => write!(
                f,
                "partition \"{partition}\" (line {line}): unknown key \"{key}\"; the keys are name, \
                 memory, image, vcpus, pasid_quota, devices, devices_without_reset, cmdline, \
                 host_base, guest_base and page_request_timeout_ms"
            ),
            Self::BadValue {
                partition,
                line,
                message,
            } => write!(f, "partition \"{partition}\" (line {line}): {message}"),
            Self::NoPartitions => f.write_str("the manifest describes no partition"),
            Self::TooManyPartitions { count } => write!(
                f,
                "the manifest describes {count} partitions, more than the {MAX_PARTITIONS} allowed"
            ),
            Self::BadName { index, name } => write!(
                f,
                "partition number {} has the invalid name \"{name}\": names are 1 to \
                 {MAX_NAME_LEN} characters of A-Z, a-z, 0-9, '_' and '-'",
                index + 1
            ),
            Self::DuplicateName { name, count } => {
                write!(f, "{count} partitions are named \"{name}\"")
            }
            Self::BadVcpus { partition, vcpus } => write!(
                f,
                "partition \"{partition}\": vcpus = {vcpus} is outside 1..={MAX_VCPUS}"
            ),
            Self::BadPasidQuota { partition, quota } => write!(
                f,
                "partition \"{partition}\": pasid_quota = {quota} is more than the {MAX_PASIDS} \
                 PASIDs there are"
            ),
            Self::BadPageRequestTimeout { partition, ms } => write!(
                f,
                "partition \"{partition}\": page_request_timeout_ms = {ms} is outside \
                 1..={MAX_PAGE_REQUEST_TIMEOUT_MS} milliseconds"
            ),
            Self::PasidTotal { total, quotas } => write!(
                f,
                "PASID quotas add up to {total} ({}), more than the {MAX_PASIDS} PASIDs there are",
                List(quotas, |q| q.to_string())
            ),
            Self::BadMemory { partition, memory } => write!(
                f,
                "partition \"{partition}\": memory {memory:#x} is not a non-zero multiple of \
                 {PAGE_SIZE:#x} (4 KiB)"
            ),
            Self::CmdlineTooLong { partition, len } => write!(
                f,
                "partition \"{partition}\": cmdline is {len} bytes, more than the \
                 {MAX_CMDLINE_LEN} allowed"
            ),
            Self::TooManyDevices { partition, count } => write!(
                f,
                "partition \"{partition}\": {count} devices, more than the {MAX_DEVICES} allowed"
            ),
            Self::Misaligned {
                partition,
                field,
                value,
                align,
            } => write!(
                f,
                "partition \"{partition}\": {field} = {value:#x} is not aligned to {align:#x}"
            ),
            Self::HostBaseZero { partition } => write!(
                f,
                "partition \"{partition}\": host_base = 0 cannot be pinned (leave host_base out \
                 to let vsva place the memory)"
            ),
            Self::RangeOverflow {
                partition,
                field,
                base,
                memory,
            } => write!(
                f,
                "partition \"{partition}\": {field} = {base:#x} plus memory {memory:#x} runs past \
                 the end of the address space"
            ),
            Self::NotInRam { partition, range } => write!(
                f,
                "partition \"{partition}\": memory {} is not inside one RAM range of the machine",
                Hex(range)
            ),
            Self::OverlapsHypervisor {
                partition,
                range,
                hypervisor,
            } => write!(
                f,
                "partition \"{partition}\": memory {} overlaps vsva itself ({})",
                Hex(range),
                Hex(hypervisor)
            ),
            Self::OverlapsPartition {
                partition,
                range,
                other,
                other_range,
            } => write!(
                f,
                "partition \"{partition}\": memory {} overlaps partition \"{other}\" ({})",
                Hex(range),
                Hex(other_range)
            ),
            Self::OverlapsConfigWindow {
                partition,
                range,
                window,
            } => write!(
                f,
                "partition \"{partition}\": guest RAM {} overlaps the PCI configuration window {}",
                Hex(range),
                Hex(window)
            ),
            Self::OverlapsTableWindow {
                partition,
                range,
                window,
            } => write!(
                f,
                "partition \"{partition}\": guest RAM {} overlaps the window of vsva's IOMMU tables {}",
                Hex(range),
                Hex(window)
            ),
            Self::UnknownImage { partition, image } => {
                write!(f, "partition \"{partition}\": unknown image \"{image}\"")
            }
            Self::ImageOutsideRam {
                partition,
                image,
                span,
                ram,
            } => write!(
                f,
                "partition \"{partition}\": image \"{image}\" loads at {}, not inside its guest \
                 RAM {}",
                Hex(span),
                Hex(ram)
            ),
            Self::TooLittleMemory {
                partition,
                image,
                memory,
                needed,
            } => write!(
                f,
                "partition \"{partition}\": memory {memory:#x} ({}) is too little for image \
                 \"{image}\"; it needs at least {needed:#x} ({}), including {} KiB above the image",
                Mib(*memory),
                Mib(*needed),
                IMAGE_HEADROOM >> 10
            ),
            Self::NoSuchFunctionAt { partition, address } => write!(
                f,
                "partition \"{partition}\": no PCI function at {address} on this machine"
            ),
            Self::NoSuchDevice {
                partition,
                vendor,
                device,
            } => write!(
                f,
                "partition \"{partition}\": no PCI function {vendor:04x}:{device:04x} on this machine"
            ),
            Self::AmbiguousDevice {
                partition,
                vendor,
                device,
                addresses,
            } => {
                write!(
                    f,
                    "partition \"{partition}\": device {vendor:04x}:{device:04x} matches several \
                     functions ("
                )?;
                for (i, address) in addresses.iter().enumerate() {
                    let separator = if i == 0 { "" } else { ", " };
                    write!(f, "{separator}{address}")?;
                }
                f.write_str("); name one by address")
            }
            Self::DeviceAssignedTwice {
                partition,
                device,
                address,
                owner,
            } => {
                write!(f, "partition \"{partition}\": device {device}")?;
                if !matches!(device, DeviceRef::Address(_)) {
                    write!(f, " ({address})")?;
                }
                write!(f, " is already assigned to partition \"{owner}\"")
            }
            Self::DeviceListedTwice {
                partition,
                device,
                address,
            } => {
                write!(f, "partition \"{partition}\": device {device}")?;
                if !matches!(device, DeviceRef::Address(_)) {
                    write!(f, " ({address})")?;
                }
                f.write_str(" is listed twice")
            }
            Self::DeviceWithoutResetNotAssigned { partition, device } => write!(
                f,
                "partition \"{partition}\": devices_without_reset names {device}, which is not \
                 in its devices (name it the same way as there)"
            ),
            Self::DeviceWithoutResetListedTwice { partition, device } => write!(
                f,
                "partition \"{partition}\": devices_without_reset lists {device} more than once"
            ),
            Self::MemoryTotal {
                total,
                available,
                ram,
                reserve,
                hypervisor,
                partitions,
            } => write!(
                f,
                "the partitions need {} of memory in all ({}) but the machine has {} for them \
                 ({} of RAM less {} reserved and {} for vsva itself)",
                Mib(*total),
                List(partitions, |m| Mib(*m).to_string()),
                Mib(*available),
                Mib(*ram),
                Mib(*reserve),
                Mib(*hypervisor)
            ),
            Self::MissingImageBytes { partition, image } => write!(
                f,
                "partition \"{partition}\": no bytes were given for image \"{image}\""
            ),
            Self::EmptyImage { partition, image } => {
                write!(f, "partition \"{partition}\": image \"{image}\" is empty")
            }
            Self::BlobTooLarge { size } => write!(
                f,
                "the manifest blob would be {size} bytes ({}), more than the 4 GiB its offsets reach",
                Mib(*size)
            ),
        }
    }
}

impl std::error::Error for ManifestError {}
