//! The hypercall ABI between vsva and the guest kernels in its partitions,
//! shared by the hypervisor (`vsva-kernel`) and the guest library
//! (`vsva-guest`). Nothing here depends on either side.
//!
//! # Calling convention
//!
//! Every call has a 32-bit *function ID* laid out as the Arm SMC Calling
//! Convention asks (Arm DEN 0028, §2.5 "Function Identifiers"): bit 31 set
//! (fast call), bit 30 set (SMC64), bits 29:24 the owning entity number 6
//! ("Vendor Specific Hypervisor Service Calls", §6.1), bits 15:0 the call
//! number ([`Call`]). x86 uses the same IDs, so a call has one number on both
//! machines.
//!
//! | | aarch64 (`HVC #0`) | x86_64 (`VMMCALL`) |
//! |---|---|---|
//! | function ID | `x0` | `rax` |
//! | arguments 0..=5 | `x1`..`x6` | `rdi`, `rsi`, `rdx`, `rcx`, `r8`, `r9` |
//! | status | `x0` | `rax` |
//! | value | `x1` | `rdx` |
//!
//! The status is 0 on success, else a negative [`HvError`] code (SMCCC's
//! convention: -1 is NOT_SUPPORTED, which [`HvError::UnknownCall`] matches).
//! Registers other than the results are preserved.
//!
//! # Entry
//!
//! A guest kernel is an ELF image linked at guest-physical addresses inside
//! its partition's RAM. vsva loads its segments and enters it at the ELF entry
//! point with the guest-physical address of a [`BootInfo`] in `x0` / `rdi`:
//! on aarch64 at EL1h with the MMU off and interrupts masked; on x86_64 in
//! 64-bit mode with an identity map of its RAM that vsva built at the top of
//! that RAM (described in [`BootInfo`]).
#![no_std]
#![deny(unsafe_code)]

pub mod sva;

/// SMCCC bit 31: a fast call (atomic with respect to the caller).
pub const SMCCC_FAST_CALL: u32 = 1 << 31;
/// SMCCC bit 30: the SMC64/HVC64 calling convention.
pub const SMCCC_64: u32 = 1 << 30;
/// SMCCC owning entity number of vendor-specific hypervisor services.
pub const OEN_VENDOR_HYPERVISOR: u32 = 6;
/// Bits 29:24 of a function ID hold the owning entity number.
const OEN_SHIFT: u32 = 24;

/// The calls vsva serves.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Call {
    /// `() -> version`: [`VERSION`], major in bits 31:16.
    Version = 0,
    /// `(guest-physical address, length) -> bytes written`: writes UTF-8 text
    /// from the caller's memory to vsva's console, prefixed with the
    /// partition's name. At most [`CONSOLE_MAX`] bytes per call.
    ConsoleWrite = 1,
    /// `(code) -> !`: ends the partition with `code`.
    Exit = 2,
    /// `() -> ()`: gives up the rest of the time slice.
    Yield = 3,
    /// `(vcpu, entry, arg) -> ()`: starts the partition's stopped vCPU
    /// `vcpu` at guest-physical `entry` with `arg` as its first argument
    /// (x0 / rdi), in the state the first vCPU started in. On aarch64 PSCI
    /// CPU_ON does the same.
    VcpuStart = 4,
    /// `(gpa of `[`sva::SvaInfo`]`) -> ()`: what vsva allows for one device
    /// (vSVA operation 1, "report nested translation").
    SvaInfo = 5,
    /// `(gpa of `[`sva::Pasid`]`) -> ()`: allocates a PASID from the global
    /// namespace, within the partition's quota.
    PasidAlloc = 6,
    /// `(gpa of `[`sva::Pasid`]`) -> ()`: frees a PASID the caller holds and
    /// no device has bound.
    PasidFree = 7,
    /// `(gpa of `[`sva::BindStage1`]`) -> ()`: binds a guest stage-1 table on
    /// a device's PASID, or on its requests without a PASID.
    BindStage1 = 8,
    /// `(gpa of `[`sva::UnbindStage1`]`) -> ()`: undoes a [`Call::BindStage1`]:
    /// the device's requests go back to the partition's stage 2 only (PASID:
    /// refused), and every cache is invalidated before the call returns.
    UnbindStage1 = 9,
    /// `(gpa of `[`sva::BindCdTable`]`) -> ()`: SMMUv3: the guest's whole
    /// context-descriptor table for a device.
    BindCdTable = 10,
    /// `(gpa of `[`sva::UnbindCdTable`]`) -> ()`: undoes [`Call::BindCdTable`].
    UnbindCdTable = 11,
    /// `(gpa of `[`sva::Invalidate`]`) -> entries completed`: a batch of IOTLB,
    /// PASID-cache / CD and device-TLB invalidations.
    Invalidate = 12,
    /// `(gpa of `[`sva::EventQueue`]`) -> ()`: registers the partition's
    /// event ring (faults and page requests of its devices), removes it, or
    /// reads its counters (vSVA operation 5).
    EventQueue = 13,
    /// `(gpa of `[`sva::PageResponse`]`) -> ()`: answers a page request or a
    /// stalled transaction the partition received in its ring.
    PageResponse = 14,
}

/// Every call, for dispatch tables and tests.
pub const CALLS: [Call; 15] = [
    Call::Version,
    Call::ConsoleWrite,
    Call::Exit,
    Call::Yield,
    Call::VcpuStart,
    Call::SvaInfo,
    Call::PasidAlloc,
    Call::PasidFree,
    Call::BindStage1,
    Call::UnbindStage1,
    Call::BindCdTable,
    Call::UnbindCdTable,
    Call::Invalidate,
    Call::EventQueue,
    Call::PageResponse,
];

impl Call {
    /// Whether this is one of the vSVA calls (argument: the guest-physical
    /// address of its [`sva`] struct).
    pub const fn is_sva(self) -> bool {
        (self as u16) >= Call::SvaInfo as u16
    }
}

/// ABI version 0.3: 0.2 and the event ring and page responses
/// ([`sva::EventQueue`], [`sva::PageResponse`]).
pub const VERSION: u64 = 0x0000_0003;

/// Longest text one [`Call::ConsoleWrite`] accepts.
pub const CONSOLE_MAX: u64 = 1024;

impl Call {
    /// The SMCCC function ID of this call.
    pub const fn function_id(self) -> u32 {
        SMCCC_FAST_CALL | SMCCC_64 | (OEN_VENDOR_HYPERVISOR << OEN_SHIFT) | self as u32
    }

    /// The call a function ID names, if it is one of vsva's (the whole 64-bit
    /// register must be the ID: upper bits set are not a vsva call).
    pub fn from_function_id(id: u64) -> Option<Self> {
        let id = u32::try_from(id).ok()?;
        if id & !0xffff != Call::Version.function_id() & !0xffff {
            return None;
        }
        CALLS.into_iter().find(|c| c.function_id() == id)
    }
}

/// Why a call failed: the negative status it returns.
#[repr(i64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HvError {
    /// Not a call vsva serves (SMCCC NOT_SUPPORTED).
    UnknownCall = -1,
    /// An argument is malformed: a length beyond the limit, an address
    /// outside the caller's memory, text that is not UTF-8.
    BadArgument = -2,
    /// The caller may not do this now (VcpuStart: the vCPU is already on).
    /// An object of another partition is never named this way: to the
    /// caller it does not exist ([`HvError::NotFound`]).
    NotPermitted = -3,
    /// vsva ran out of a resource serving the call, or the caller's quota
    /// (PASIDs, shadow tables) is used up.
    NoResources = -4,
    /// A known field holds a value this IOMMU or device cannot do (iommufd's
    /// EOPNOTSUPP): a format, a flag, a width, a call on the other IOMMU.
    Unsupported = -5,
    /// No such object for the caller: a device not in its window, a PASID it
    /// does not hold, a binding that does not exist (ENOENT).
    NotFound = -6,
    /// The object is in use: a PASID still bound, a device already bound
    /// there (EBUSY).
    Busy = -7,
    /// The argument struct is longer than vsva knows and its unknown tail is
    /// not zero, or longer than [`sva::MAX_STRUCT_SIZE`] (E2BIG).
    TooBig = -8,
    /// The IOMMU reported an error or did not complete in time; what the
    /// call was changing is left blocked, not half-done.
    IommuError = -9,
}

impl HvError {
    /// The status register value.
    pub const fn status(self) -> i64 {
        self as i64
    }

    /// The error a status names; `None` for 0 (success) and unknown codes.
    pub const fn from_status(status: i64) -> Option<Self> {
        match status {
            -1 => Some(Self::UnknownCall),
            -2 => Some(Self::BadArgument),
            -3 => Some(Self::NotPermitted),
            -4 => Some(Self::NoResources),
            -5 => Some(Self::Unsupported),
            -6 => Some(Self::NotFound),
            -7 => Some(Self::Busy),
            -8 => Some(Self::TooBig),
            -9 => Some(Self::IommuError),
            _ => None,
        }
    }
}

impl core::fmt::Display for HvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnknownCall => "unknown call",
            Self::BadArgument => "bad argument",
            Self::NotPermitted => "not permitted",
            Self::NoResources => "no resources",
            Self::Unsupported => "unsupported",
            Self::NotFound => "not found",
            Self::Busy => "busy",
            Self::TooBig => "too big",
            Self::IommuError => "IOMMU error",
        })
    }
}

/// Where every partition's emulated PCI configuration window is, guest-physical:
/// below the RAM, clear of the host BAR windows that are mapped 1:1 (QEMU virt's
/// 0x1000_0000.. and q35's 0xc000_0000..).
pub const CONFIG_WINDOW_BASE: u64 = 0x0400_0000;

/// [`BootInfo::magic`]: "vsvaboot" little-endian.
pub const BOOT_MAGIC: u64 = u64::from_le_bytes(*b"vsvaboot");
/// Longest command line in [`BootInfo`].
pub const CMDLINE_MAX: usize = 256;

/// What vsva tells a guest kernel at entry, at a guest-physical address in its
/// RAM (the first page after the image's highest segment, 4 KiB aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// [`BOOT_MAGIC`].
    pub magic: u64,
    /// [`VERSION`] of the ABI.
    pub version: u64,
    /// The partition's index in the manifest.
    pub partition: u64,
    /// The partition's RAM: `[ram_base, ram_base + ram_size)`, guest-physical.
    pub ram_base: u64,
    pub ram_size: u64,
    /// The emulated PCI configuration window (ECAM layout, PCIe §7.2.2),
    /// guest-physical; showing only the partition's own functions. Size 0:
    /// no window (no devices assigned).
    pub config_base: u64,
    pub config_size: u64,
    /// x86_64 only: the guest-physical range vsva used for the identity page
    /// tables it entered the guest with; the guest may reuse it once it has
    /// its own. Zero on aarch64.
    pub boot_tables_base: u64,
    pub boot_tables_size: u64,
    /// The command line from the manifest: `cmdline_len` bytes of UTF-8.
    pub cmdline_len: u64,
    pub cmdline: [u8; CMDLINE_MAX],
}

const _: () = assert!(core::mem::size_of::<BootInfo>() == BootInfo::SIZE);

impl BootInfo {
    /// Bytes of the structure in guest memory.
    pub const SIZE: usize = 10 * 8 + CMDLINE_MAX;

    /// The little-endian bytes the guest reads, in field order (`repr(C)`
    /// has no padding here: ten u64 then bytes).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut out = [0u8; Self::SIZE];
        let words = [
            self.magic,
            self.version,
            self.partition,
            self.ram_base,
            self.ram_size,
            self.config_base,
            self.config_size,
            self.boot_tables_base,
            self.boot_tables_size,
            self.cmdline_len,
        ];
        for (chunk, word) in out.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out[80..].copy_from_slice(&self.cmdline);
        out
    }

    /// The command line, or "" when it is not valid UTF-8 or too long.
    pub fn cmdline(&self) -> &str {
        self.cmdline
            .get(..self.cmdline_len as usize)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    extern crate alloc;

    use alloc::vec::Vec;

    use super::*;

    #[test]
    fn function_ids_follow_the_smccc_layout() {
        // Fast, SMC64, OEN 6: 0xC6000000 + call (DEN 0028 Table 6-1).
        assert_eq!(Call::Version.function_id(), 0xc600_0000);
        assert_eq!(Call::ConsoleWrite.function_id(), 0xc600_0001);
        assert_eq!(Call::Exit.function_id(), 0xc600_0002);
        for call in CALLS {
            assert_eq!(
                Call::from_function_id(u64::from(call.function_id())),
                Some(call)
            );
        }
        let sva: Vec<Call> = CALLS.into_iter().filter(|c| c.is_sva()).collect();
        assert_eq!(sva.len(), 10);
        assert!(sva.iter().all(|&c| c as u16 >= 5) && !Call::VcpuStart.is_sva());
    }

    #[test]
    fn other_owners_and_unknown_numbers_are_not_calls() {
        // PSCI (OEN 4), a 32-bit convention ID, high bits set, an unused number.
        for id in [
            0xc400_0003u64,
            0x8600_0001,
            0x1_c600_0001,
            0xc600_7fff,
            0xc600_000f,
            0,
        ] {
            assert_eq!(Call::from_function_id(id), None, "{id:#x}");
        }
    }

    #[test]
    fn error_statuses_round_trip_and_match_smccc_not_supported() {
        assert_eq!(HvError::UnknownCall.status(), -1);
        for e in [
            HvError::UnknownCall,
            HvError::BadArgument,
            HvError::NotPermitted,
            HvError::NoResources,
            HvError::Unsupported,
            HvError::NotFound,
            HvError::Busy,
            HvError::TooBig,
            HvError::IommuError,
        ] {
            assert_eq!(HvError::from_status(e.status()), Some(e));
        }
        assert_eq!(HvError::from_status(0), None);
        assert_eq!(HvError::from_status(-99), None);
    }

    #[test]
    fn the_command_line_is_bounded_and_checked() {
        let mut info = BootInfo {
            magic: BOOT_MAGIC,
            version: VERSION,
            partition: 0,
            ram_base: 0,
            ram_size: 0,
            config_base: 0,
            config_size: 0,
            boot_tables_base: 0,
            boot_tables_size: 0,
            cmdline_len: 5,
            cmdline: [0; CMDLINE_MAX],
        };
        info.cmdline[..5].copy_from_slice(b"hello");
        assert_eq!(info.cmdline(), "hello");
        let bytes = info.to_bytes();
        assert_eq!(&bytes[..8], b"vsvaboot");
        assert_eq!(bytes[72], 5, "cmdline_len");
        assert_eq!(&bytes[80..85], b"hello");
        info.cmdline_len = CMDLINE_MAX as u64 + 1;
        assert_eq!(info.cmdline(), "");
        info.cmdline_len = 2;
        info.cmdline[0] = 0xff;
        assert_eq!(info.cmdline(), "");
    }
}
