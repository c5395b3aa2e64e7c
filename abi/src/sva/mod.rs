//! The vSVA calls: what a guest kernel asks of vsva so that a device assigned
//! to it walks the guest's own stage-1 page tables, nested on the partition's
//! stage 2.
//!
//! # Argument structs
//!
//! Every vSVA call takes one argument, the guest-physical address of its
//! argument struct in the caller's RAM. The struct is little-endian, laid out
//! as documented on each type (no implicit padding), and starts with its size
//! in bytes, a `u32` (iommufd's convention, `include/uapi/linux/iommufd.h`):
//!
//! - size 0: a probe. Nothing else is read; the call succeeds with the size
//!   vsva knows as its value.
//! - below the struct's first-version size ([`SvaStruct::MIN_SIZE`]):
//!   [`HvError::BadArgument`](crate::HvError::BadArgument).
//! - below the size vsva knows: an older caller; the missing fields read as 0.
//! - above it: the bytes vsva does not know must all be zero, else
//!   [`HvError::TooBig`](crate::HvError::TooBig); at most [`MAX_STRUCT_SIZE`].
//! - the struct must lie wholly inside the caller's RAM:
//!   [`HvError::BadArgument`](crate::HvError::BadArgument) otherwise.
//!
//! vsva reads the size once, then the struct once, and validates its own copy
//! (a value changed meanwhile by another vCPU or a device is never seen
//! twice). Results are written back into the same struct, truncated to the
//! caller's size.
//!
//! # Devices and PASIDs
//!
//! A device is named by the requester ID the caller's own configuration
//! window shows for it ([`DeviceId`]): never by a host ID. A device that is
//! not in the caller's window is [`HvError::NotFound`](crate::HvError::NotFound).
//!
//! PASIDs come from one namespace shared by every partition (VT-d PASIDs are
//! global: ENQCMD and Scalable IOV use one PASID across devices), allocated
//! from 1 up by [`Call::PasidAlloc`](crate::Call::PasidAlloc) within the
//! partition's quota (its manifest's `pasid_quota`). A PASID the caller does
//! not hold is [`HvError::NotFound`](crate::HvError::NotFound) to it.
//!
//! Every struct's fields and every call's errors are in `abi/README.md`.

use bitflags::bitflags;

/// A device as the caller sees it: the PCI requester ID of its configuration
/// window, `bus << 8 | device << 3 | function` (PCIe Base Specification
/// §2.2.6.2). vsva's window has one bus, 0.
pub type DeviceId = u32;

/// The largest argument struct vsva reads (larger sizes are
/// [`HvError::TooBig`](crate::HvError::TooBig) whatever their tail holds).
pub const MAX_STRUCT_SIZE: u32 = 4096;

/// The most entries one [`Invalidate`] call takes.
pub const MAX_INVALIDATIONS: u32 = 256;

/// Guest-physical window where vsva places structures an IOMMU reads through
/// the partition's stage 2 (SMMUv3 context-descriptor tables vsva owns, whose
/// pointers a nested STE holds as IPAs, SMMUv3 §5.2). Mapped read-only; no
/// partition's RAM or BARs may lie there.
pub const TABLE_WINDOW_BASE: u64 = 0x0500_0000;
/// Size of [`TABLE_WINDOW_BASE`]'s window.
pub const TABLE_WINDOW_SIZE: u64 = 16 << 20;

/// A vSVA argument struct: its layout and size rules (see the module
/// documentation).
pub trait SvaStruct: Sized {
    /// Bytes vsva knows (this version).
    const SIZE: usize;
    /// Bytes of the first version: a smaller caller's size is refused.
    const MIN_SIZE: usize;
    /// Decodes [`SIZE`](Self::SIZE) bytes (a shorter caller's struct is
    /// zero-extended first). Decoding never fails: fields are checked by
    /// whoever uses them.
    fn decode(bytes: &[u8]) -> Self;
    /// Encodes into [`SIZE`](Self::SIZE) bytes.
    fn encode(&self, out: &mut [u8]);
}

/// Little-endian field access at fixed offsets; an offset past the slice
/// reads as zero and writes nothing, so a short buffer is never a panic.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.0.get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.bytes::<1>(at)[0]
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
}

fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// A field of an argument struct: a little-endian integer at an offset.
trait Field: Sized {
    fn get(bytes: &Le<'_>, at: usize) -> Self;
    fn put(self, out: &mut [u8], at: usize);
}

macro_rules! field {
    ($($ty:ty => $get:ident),*) => {$(
        impl Field for $ty {
            fn get(bytes: &Le<'_>, at: usize) -> Self {
                bytes.$get(at)
            }
            fn put(self, out: &mut [u8], at: usize) {
                put(out, at, &self.to_le_bytes());
            }
        }
    )*};
}

field!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

/// Declares an argument struct once: its fields at their byte offsets, and
/// from them its [`SvaStruct`] decoding and encoding. Bytes no field covers
/// (reserved) are left as they are by `encode` (callers start from zeros).
macro_rules! sva_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($size:literal) {
            $($(#[$fmeta:meta])* $at:literal => pub $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::sva::SvaStruct for $name {
            const SIZE: usize = $size;
            const MIN_SIZE: usize = $size;

            fn decode(bytes: &[u8]) -> Self {
                let bytes = $crate::sva::Le(bytes);
                Self {
                    $($field: $crate::sva::Field::get(&bytes, $at),)*
                }
            }

            fn encode(&self, out: &mut [u8]) {
                $($crate::sva::Field::put(self.$field, out, $at);)*
            }
        }

        // Every field lies inside the struct.
        #[allow(clippy::int_plus_one)]
        const _: () = {
            $(assert!($at + core::mem::size_of::<$ty>() <= $size);)*
        };
    };
}

/// Which IOMMU translates a device ([`SvaInfo::iommu`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IommuKind {
    /// Intel VT-d (scalable mode; legacy mode allows only binds without PASID).
    Vtd = 1,
    /// Arm SMMUv3.
    SmmuV3 = 2,
}

impl IommuKind {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Vtd),
            2 => Some(Self::SmmuV3),
            _ => None,
        }
    }
}

/// How vsva installs a bound guest table ([`SvaInfo::install`]).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Install {
    /// The IOMMU walks the guest's table itself, nested on stage 2 (VT-d
    /// ECAP.NEST, SMMUv3 nested STEs). The guest invalidates as on bare metal.
    Nested = 1,
    /// The IOMMU cannot nest (QEMU's VT-d: ECAP.NEST = 0): vsva walks the
    /// guest's table and keeps a shadow table composed with the partition's
    /// stage 2. As with VT-d caching mode, the guest must invalidate after
    /// every change to its table, making entries present included; the
    /// shadow is re-synced for exactly the ranges it names.
    Shadow = 2,
}

impl Install {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Nested),
            2 => Some(Self::Shadow),
            _ => None,
        }
    }
}

bitflags! {
    /// What a device allows ([`SvaInfo::caps`]): only what vsva will do.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct SvaCaps: u64 {
        /// A stage-1 table can be bound for the device's requests without a
        /// PASID ([`BindStage1`] without [`BindFlags::PASID`]).
        const BIND = 1 << 0;
        /// Stage-1 tables can be bound on PASIDs below 2^`pasid_bits`.
        const BIND_PASID = 1 << 1;
        /// A whole context-descriptor table can be bound ([`BindCdTable`],
        /// SMMUv3 only).
        const CD_TABLE = 1 << 2;
        /// The device's PASID capability has Execute Permission Supported
        /// (PCIe §7.8.9.2).
        const PASID_EXEC = 1 << 3;
        /// The device's PASID capability has Privileged Mode Supported.
        const PASID_PRIV = 1 << 4;
        // Bit 5 is reserved (ATS: vsva enables it on no device).
        /// The device has a PRI capability and its IOMMU takes page
        /// requests: they reach the partition's event ring as
        /// [`EventKind::PageRequest`] records.
        const PRI = 1 << 6;
        /// [`BindFlags::X86_SRE`] is accepted (VT-d ECAP.SRS, nested).
        const X86_SRE = 1 << 7;
        /// [`BindFlags::X86_WPE`] is accepted.
        const X86_WPE = 1 << 8;
        /// [`BindFlags::X86_EAFE`] is accepted (VT-d ECAP.EAFS, nested).
        const X86_EAFE = 1 << 9;
        /// [`CdTableFlags::STALL`] is accepted: the SMMU can stall faulting
        /// transactions (IDR0.STALL_MODEL 0b00), and vsva hands them to the
        /// partition as [`EventKind::Stall`] records.
        const STALL = 1 << 10;
    }
}

bitflags! {
    /// The stage-1 formats a device's binds accept ([`SvaInfo::formats`]).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct Stage1Formats: u64 {
        /// x86 4-level paging (VT-d first stage, 48-bit input).
        const X86_4LEVEL = 1 << 0;
        /// x86 5-level paging (57-bit input).
        const X86_5LEVEL = 1 << 1;
        /// 1 GiB leaves in x86 tables.
        const X86_1G_PAGES = 1 << 2;
        /// VMSAv8-64 stage 1 with the 4 KiB granule.
        const VMSA_4K = 1 << 8;
        /// VMSAv8-64 stage 1 with the 16 KiB granule.
        const VMSA_16K = 1 << 9;
        /// VMSAv8-64 stage 1 with the 64 KiB granule.
        const VMSA_64K = 1 << 10;
    }
}

/// The format of a table bound by [`BindStage1`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage1Format {
    /// x86 4-level paging: `root` is the PML4 (like CR3), input 48 bits.
    X86FourLevel = 1,
    /// x86 5-level paging: `root` is the PML5, input 57 bits.
    X86FiveLevel = 2,
    /// VMSAv8-64 stage 1, 4 KiB granule: `root` is TTB0.
    Vmsa4K = 3,
    /// VMSAv8-64 stage 1, 16 KiB granule.
    Vmsa16K = 4,
    /// VMSAv8-64 stage 1, 64 KiB granule.
    Vmsa64K = 5,
}

impl Stage1Format {
    pub const fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::X86FourLevel),
            2 => Some(Self::X86FiveLevel),
            3 => Some(Self::Vmsa4K),
            4 => Some(Self::Vmsa16K),
            5 => Some(Self::Vmsa64K),
            _ => None,
        }
    }

    /// The bit of [`Stage1Formats`] that says a device accepts this format.
    pub const fn capability(self) -> Stage1Formats {
        match self {
            Self::X86FourLevel => Stage1Formats::X86_4LEVEL,
            Self::X86FiveLevel => Stage1Formats::X86_5LEVEL,
            Self::Vmsa4K => Stage1Formats::VMSA_4K,
            Self::Vmsa16K => Stage1Formats::VMSA_16K,
            Self::Vmsa64K => Stage1Formats::VMSA_64K,
        }
    }

    pub const fn is_x86(self) -> bool {
        matches!(self, Self::X86FourLevel | Self::X86FiveLevel)
    }
}

bitflags! {
    /// [`BindStage1::flags`] and [`UnbindStage1::flags`].
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct BindFlags: u32 {
        /// `pasid` is valid: the table serves requests with that PASID (else
        /// requests without a PASID: VT-d RID_PASID, SMMUv3 SSID 0 / S1DSS).
        const PASID = 1 << 0;
        /// x86: supervisor requests enabled (VT-d PASID entry SRE).
        const X86_SRE = 1 << 1;
        /// x86: write protect enable for supervisor requests (WPE).
        const X86_WPE = 1 << 2;
        /// x86: extended access flag enable (EAFE).
        const X86_EAFE = 1 << 3;
        /// VMSAv8: top byte ignored (CD TBI0).
        const VMSA_TBI = 1 << 4;
    }
}

mod events;
mod structs;
#[cfg(test)]
mod tests;

pub use events::*;
pub use structs::*;
