//! Partitions: guest kernels in their own RAM behind a stage-2 translation,
//! with their assigned PCI functions, time-shared on this CPU.
//!
//! A partition is built from a [`Spec`] (from the manifest built into the
//! image, or from a test) by [`Partition::create`] (`create.rs`): RAM from
//! the frame allocator, zeroed; the guest's ELF segments loaded into it; a
//! [`vsva_abi::BootInfo`] after the image; a stage-2 table that maps the RAM
//! and the assigned functions' BARs and nothing else. Its devices
//! (`assign.rs`) are handed to the vSVA service ([`crate::iommu::Iommus`],
//! the one IOMMU-neutral handle on the units), which puts their DMA on the
//! same stage 2 and later serves the guest's vSVA calls (`sva.rs`).
//!
//! [`run`] (`run.rs`) time-shares the vCPUs round robin with a preemption
//! timer; a vCPU that faults or misbehaves stops its partition with a
//! [`StopReason`], and the others go on. A stopped partition loses its
//! bindings and PASIDs and its devices are blocked at once; its memory goes
//! back to the allocator only when that completed (`Drop`).
#![deny(unsafe_code)]

mod assign;
mod bars;
mod bench;
mod console;
mod create;
mod faults;
pub mod hypercall;
#[cfg(feature = "ktest")]
mod ktests;
mod memory;
mod mmio;
mod reset;
mod run;
mod sva;
#[cfg(feature = "ktest")]
mod sva_ktests;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use log::{error, warn};
use vsva_boot::elf::ElfError;
use vsva_pci::{Bdf, ConfigWindow};
use vsva_sva::guest::GuestRam;
use vsva_sva::{PartitionId, SvaError};

use crate::arch::Stage2Error;
use crate::arch::vcpu::{Stage2, Vcpu};
use crate::iommu::Iommus;

pub use assign::Isolation;
pub use bench::BENCH;
pub use faults::DmaFault;
pub use run::{StartError, boot_manifest, run};

/// What a partition is made of.
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    pub name: &'a str,
    /// Bytes of RAM (a multiple of 4 KiB).
    pub memory: u64,
    /// A host-physical address the manifest pins the RAM at.
    pub host_base: Option<u64>,
    /// Guest-physical base of the RAM.
    pub guest_base: u64,
    pub vcpus: u32,
    pub pasid_quota: u32,
    /// How long a page request may wait for the guest's answer.
    pub page_request_timeout_ms: u32,
    /// Assigned PCI functions (segment, host address).
    pub devices: Vec<(u16, Bdf)>,
    /// Those of `devices` the manifest lets go without a reset when they
    /// have none (their state passes between owners).
    pub without_reset: Vec<(u16, Bdf)>,
    pub cmdline: &'a str,
    /// The guest kernel, an ELF file linked inside `[guest_base, +memory)`.
    pub image: &'a [u8],
}

/// Why a partition could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateError {
    OutOfMemory(&'static str),
    BadImage(ElfError),
    /// The ELF entry point is outside the partition's RAM.
    EntryOutsideRam(u64),
    /// A segment of the image lies outside the partition's RAM.
    ImageOutsideRam {
        start: u64,
        end: u64,
    },
    NoRoomForBootInfo,
    CommandLineTooLong(usize),
    UnknownDevice {
        segment: u16,
        bdf: Bdf,
    },
    /// The function cannot be given to the partition alone.
    DeviceNotIsolated {
        segment: u16,
        bdf: Bdf,
        why: Isolation,
    },
    Stage2(Stage2Error),
    TooManyVcpus(u32),
    TooManyPartitions,
    /// `host_base` names RAM that was not kept for it at boot or is in use.
    PinnedMemory(u64),
    /// The vSVA service refused the partition.
    Iommu(SvaError),
    /// The guest RAM overlaps (or wraps into) a guest-physical window of
    /// vsva's: the configuration window or the IOMMU table window.
    RamOverlapsWindow {
        base: u64,
        size: u64,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory(what) => write!(f, "out of memory for {what}"),
            Self::BadImage(e) => write!(f, "guest image: {e}"),
            Self::EntryOutsideRam(at) => write!(f, "guest image: entry point {at:#x} outside RAM"),
            Self::ImageOutsideRam { start, end } => write!(
                f,
                "image segment {start:#x}..{end:#x} is outside the partition's RAM"
            ),
            Self::NoRoomForBootInfo => {
                write!(f, "no room after the image for the boot information")
            }
            Self::CommandLineTooLong(n) => write!(
                f,
                "command line of {n} bytes (at most {})",
                vsva_abi::CMDLINE_MAX
            ),
            Self::UnknownDevice { segment, bdf } => {
                write!(f, "no PCI function {segment:04x}:{bdf}")
            }
            Self::DeviceNotIsolated { segment, bdf, why } => {
                write!(f, "cannot isolate {segment:04x}:{bdf}: {why}")
            }
            Self::Stage2(e) => write!(f, "stage-2 table: {e}"),
            Self::TooManyVcpus(n) => write!(f, "{n} vCPUs (at most {MAX_VCPUS})"),
            Self::TooManyPartitions => write!(f, "no VMID left"),
            Self::PinnedMemory(at) => write!(
                f,
                "RAM pinned at host {at:#x} was not kept at boot, or another partition holds it"
            ),
            Self::Iommu(e) => write!(f, "IOMMU: {e:?}"),
            Self::RamOverlapsWindow { base, size } => {
                write!(f, "guest RAM overlaps vsva's window {base:#x}+{size:#x}")
            }
        }
    }
}

/// Why a partition stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The guest called Exit with this code.
    Exited(u64),
    /// PSCI SYSTEM_OFF (or SYSTEM_RESET, which vsva does not do).
    PoweredOff,
    /// An access outside the partition: where, and why.
    Fault {
        vcpu: usize,
        ipa: u64,
        va: Option<u64>,
        pc: u64,
        write: bool,
        reason: String,
    },
    /// A trap vsva does not handle.
    Trap { vcpu: usize, what: String },
    /// Still running when the time limit came; where its vCPUs were.
    TimeLimit { state: String },
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exited(code) => write!(f, "exited with {code:#x}"),
            Self::PoweredOff => write!(f, "powered off"),
            Self::Fault {
                vcpu,
                ipa,
                va,
                pc,
                write,
                reason,
            } => {
                write!(
                    f,
                    "stage-2 fault: {} at IPA {ipa:#x}",
                    if *write { "write" } else { "read" }
                )?;
                if let Some(va) = va {
                    write!(f, " (VA {va:#x})")?;
                }
                write!(f, " by vCPU {vcpu} at PC {pc:#x}: {reason}")
            }
            Self::Trap { vcpu, what } => write!(f, "vCPU {vcpu}: {what}"),
            Self::TimeLimit { state } => write!(f, "stopped at the time limit ({state})"),
        }
    }
}

/// Most vCPUs one partition may have.
pub const MAX_VCPUS: u32 = 8;

/// A vCPU and whether it may run.
#[derive(Debug)]
struct VcpuSlot {
    vcpu: Vcpu,
    state: VcpuState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VcpuState {
    /// Not started (secondary vCPUs wait for PSCI CPU_ON).
    Off,
    Runnable,
    /// In WFI until an interrupt.
    Waiting,
}

/// An assigned PCI function.
#[derive(Clone, Debug)]
struct Assigned {
    segment: u16,
    bdf: Bdf,
    /// Its group's functions and how each was reset when assigned.
    resets: reset::Plan,
}

/// Where the partition stands with the IOMMUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Iommu {
    /// Not (yet) known to the service: nothing of it is on an IOMMU.
    Unregistered,
    /// Known to the service: devices may be attached, bindings may exist.
    Registered,
    /// Everything the service held for it is gone: memory may be reused.
    Released,
    /// A teardown did not complete: its RAM and tables are never reused.
    Quarantined,
}

/// One partition.
#[derive(Debug)]
pub struct Partition {
    pub index: usize,
    pub name: String,
    /// The IOMMUs and the vSVA service this partition's devices are on.
    iommus: &'static Iommus,
    iommu: Iommu,
    ram: GuestRam,
    ram_frames: usize,
    /// The RAM is the manifest's pinned range, not the allocator's.
    pinned: bool,
    stage2: Option<Stage2>,
    vmid: u8,
    vcpus: Vec<VcpuSlot>,
    /// Where the round robin over this partition's vCPUs goes on.
    next_vcpu: usize,
    devices: Vec<Assigned>,
    /// Functions this partition holds in the ownership list (also those
    /// whose assignment failed half-way), released on drop.
    claimed: Vec<(u16, Bdf)>,
    /// Claimed functions whose reset after release failed: kept from every
    /// partition when this one is dropped.
    unreset: Vec<(u16, Bdf)>,
    window: ConfigWindow,
    /// x86_64: the boot page tables' PML4 (the CR3 every vCPU starts with).
    #[cfg(target_arch = "x86_64")]
    boot_cr3: u64,
    console: String,
    line: String,
    stopped: Option<StopReason>,
    dma_faults: Vec<DmaFault>,
    /// What it may still log this slice (console, DMA faults).
    log_budget: crate::log_budget::LogBudget,
}

impl Partition {
    /// The ID the vSVA service knows this partition by.
    pub fn id(&self) -> PartitionId {
        PartitionId(self.index as u32)
    }

    /// What the partition printed (the last few KiB).
    pub fn console(&self) -> &str {
        &self.console
    }

    /// The DMA its devices tried that the IOMMU blocked.
    pub fn dma_faults(&self) -> &[DmaFault] {
        &self.dma_faults
    }

    /// Why it stopped, once it has.
    pub fn stopped(&self) -> Option<&StopReason> {
        self.stopped.as_ref()
    }

    /// Guest-physical base and size of its RAM.
    pub fn ram(&self) -> (u64, u64) {
        (self.ram.guest, self.ram.size)
    }

    /// Host-physical base of its RAM.
    pub fn ram_host(&self) -> u64 {
        self.ram.host
    }

    /// Reads the partition's RAM at guest-physical `gpa` (false when outside).
    pub fn read_guest(&self, gpa: u64, buf: &mut [u8]) -> bool {
        memory::RamAccess(self.ram).read(gpa, buf)
    }

    /// Blocks the partition's devices (bus mastering off) and gives up
    /// everything the vSVA service holds for it: bindings, PASIDs, device
    /// attachments (DMA blocked, caches invalidated). Done once; if the
    /// IOMMU did not complete, the partition is quarantined: its memory is
    /// never reused.
    fn release(&mut self) {
        if self.iommu != Iommu::Registered {
            return;
        }
        self.quiesce_devices();
        let mut service = self.iommus.lock();
        // What its devices did until now is still its to see.
        let faults = service.take_faults_of(self.id());
        let removed = service.remove_partition(self.id());
        drop(service);
        faults::keep(self, faults);
        match removed {
            Ok(()) => self.iommu = Iommu::Released,
            Err(q) => {
                error!(
                    "partition '{}': IOMMU teardown failed ({:?}): its memory is quarantined",
                    self.name, q.error
                );
                self.iommu = Iommu::Quarantined;
            }
        }
    }

    /// A stopped partition's devices may not go on writing into its memory
    /// (which is about to be reused): bus mastering off, then the reset that
    /// clears what it left in them for the next owner.
    fn quiesce_devices(&mut self) {
        for d in &self.devices {
            if let Some((seg, _)) = crate::pci::find_bdf(d.segment, d.bdf) {
                vsva_pci::enable(&seg.access, d.bdf, false, false, false);
                let failed = reset::after_release(seg, &d.resets);
                self.unreset
                    .extend(failed.into_iter().map(|b| (d.segment, b)));
            }
        }
    }
}

impl Drop for Partition {
    /// Returns the partition's resources: its IOMMU state first (devices
    /// blocked, caches invalidated), then tables and RAM; nothing is freed
    /// that an IOMMU may still reach.
    fn drop(&mut self) {
        self.release();
        if self.iommu == Iommu::Quarantined {
            // Its devices too: their IOMMU entries may still point here, so
            // no other partition is given them.
            warn!(
                "partition '{}': RAM {:#x}+{:#x}, its tables and its devices stay quarantined",
                self.name, self.ram.host, self.ram.size
            );
            // Kept from every partition, whatever its index (a rebuilt
            // partition of the same index is not their owner).
            assign::release_claims(&self.claimed, &self.claimed);
            return;
        }
        assign::release_claims(&self.claimed, &self.unreset);
        if let Some(stage2) = self.stage2.take() {
            stage2.destroy();
        }
        create::release_ram(self);
    }
}
