//! Partitions: guest kernels in their own RAM behind a stage-2 translation,
//! with their assigned PCI functions, time-shared on this CPU.
//!
//! A partition is built from a [`Spec`] (from the manifest built into the
//! image, or from a test): RAM from the frame allocator, zeroed; the guest's
//! ELF segments loaded into it (each must lie inside the RAM); a
//! [`vsva_abi::BootInfo`] after the image; a stage-2 table that maps the RAM
//! and the assigned functions' BARs and nothing else. The same table is the
//! SMMU's stage 2 for those functions' DMA (the formats are the same, SMMUv3
//! §5.2 / Arm ARM D8), so a device reaches exactly what its partition can.
//!
//! [`run`] time-shares the vCPUs round robin with a preemption timer; a vCPU
//! that faults or misbehaves stops its partition with a [`StopReason`], and
//! the others go on.
#![deny(unsafe_code)]

pub mod hypercall;
#[cfg(feature = "ktest")]
mod ktests;

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use log::{info, warn};
use vsva_abi::{BOOT_MAGIC, BootInfo, CMDLINE_MAX, CONFIG_WINDOW_BASE, VERSION};
use vsva_pci::{BarKind, Bdf, ConfigWindow};

use crate::arch::dma::phys;
use crate::arch::time::uptime_nanos;
use crate::arch::vcpu::{self, Exit, MapKind, Stage2, Vcpu, VirtCaps};
use crate::mem::PAGE_SIZE;

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
    /// Assigned PCI functions (segment, host address).
    pub devices: Vec<(u16, Bdf)>,
    pub cmdline: &'a str,
    /// The guest kernel, an ELF file linked inside `[guest_base, +memory)`.
    pub image: &'a [u8],
}

/// Why a partition could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreateError {
    OutOfMemory(&'static str),
    BadImage(String),
    /// A segment of the image lies outside the partition's RAM.
    ImageOutsideRam {
        start: u64,
        end: u64,
    },
    NoRoomForBootInfo,
    CommandLineTooLong(usize),
    UnknownDevice(String),
    /// The function's IOMMU cannot give it the partition's stage 2.
    DeviceNotIsolated(String),
    Stage2(String),
    TooManyVcpus(u32),
    TooManyPartitions,
    /// `host_base` names RAM that was not kept for it at boot or is in use.
    PinnedMemory(u64),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory(what) => write!(f, "out of memory for {what}"),
            Self::BadImage(e) => write!(f, "guest image: {e}"),
            Self::ImageOutsideRam { start, end } => {
                write!(
                    f,
                    "image segment {start:#x}..{end:#x} is outside the partition's RAM"
                )
            }
            Self::NoRoomForBootInfo => {
                write!(f, "no room after the image for the boot information")
            }
            Self::CommandLineTooLong(n) => {
                write!(f, "command line of {n} bytes (at most {CMDLINE_MAX})")
            }
            Self::UnknownDevice(d) => write!(f, "no PCI function {d}"),
            Self::DeviceNotIsolated(d) => write!(f, "cannot isolate {d}"),
            Self::Stage2(e) => write!(f, "stage-2 table: {e}"),
            Self::TooManyVcpus(n) => write!(f, "{n} vCPUs (at most {MAX_VCPUS})"),
            Self::TooManyPartitions => write!(f, "no VMID left"),
            Self::PinnedMemory(at) => write!(
                f,
                "RAM pinned at host {at:#x} was not kept at boot, or another partition holds it"
            ),
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

/// Pinned RAM ranges (their bases) a partition holds.
static PINNED_IN_USE: spin::Mutex<Vec<u64>> = spin::Mutex::new(Vec::new());

/// The PCI functions partitions own: (segment, function, partition index).
static OWNED: spin::Mutex<Vec<(u16, Bdf, usize)>> = spin::Mutex::new(Vec::new());

/// Why a vCPU could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// No such vCPU, or the entry point is outside the partition's RAM.
    Invalid,
    AlreadyOn,
}

/// Where a partition's RAM is: guest-physical `[guest, guest + size)` is
/// host-physical `[host, host + size)`. `Copy`, so that a closure can use it
/// while the partition itself is borrowed elsewhere.
#[derive(Clone, Copy, Debug)]
struct GuestRam {
    guest: u64,
    host: u64,
    size: u64,
}

impl GuestRam {
    /// Guest-physical `[gpa, gpa + len)` inside the RAM, as a host address.
    fn host_address(self, gpa: u64, len: u64) -> Option<u64> {
        let offset = gpa.checked_sub(self.guest)?;
        let end = offset.checked_add(len)?;
        (end <= self.size).then(|| self.host + offset)
    }

    /// Reads guest-physical `gpa` (false when outside the RAM).
    fn read(self, gpa: u64, buf: &mut [u8]) -> bool {
        self.host_address(gpa, buf.len() as u64)
            .is_some_and(|h| phys::read(h, buf))
    }

    /// Writes guest-physical `gpa` (false when outside the RAM).
    fn write(self, gpa: u64, bytes: &[u8]) -> bool {
        self.host_address(gpa, bytes.len() as u64)
            .is_some_and(|h| phys::write(h, bytes))
    }
}

/// Most vCPUs one partition may have.
pub const MAX_VCPUS: u32 = 8;
/// Console output kept per partition (for tests and the report).
const CONSOLE_KEPT: usize = 8 * 1024;
/// A time slice.
const SLICE_MS: u64 = 10;

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
#[derive(Debug)]
struct Assigned {
    segment: u16,
    bdf: Bdf,
    /// The IOMMU (index into `iommu::SMMU` / `iommu::VTD`) and the StreamID /
    /// source ID its DMA goes through.
    iommu: Option<(usize, u32)>,
}

/// One partition.
#[derive(Debug)]
pub struct Partition {
    pub index: usize,
    pub name: String,
    ram_host: u64,
    ram_frames: usize,
    /// The RAM is the manifest's pinned range, not the allocator's.
    pinned: bool,
    ram_guest: u64,
    ram_size: u64,
    stage2: Option<Stage2>,
    vmid: u8,
    vcpus: Vec<VcpuSlot>,
    /// Where the round robin over this partition's vCPUs goes on.
    next_vcpu: usize,
    devices: Vec<Assigned>,
    /// Functions this partition holds in [`OWNED`] (also those whose
    /// assignment failed half-way), released on drop.
    claimed: Vec<(u16, Bdf)>,
    window: ConfigWindow,
    /// x86_64: the boot page tables' PML4 (the CR3 every vCPU starts with).
    #[cfg(target_arch = "x86_64")]
    boot_cr3: u64,
    /// x86_64 without VT-d first-stage translation: the second-stage table
    /// that gives assigned devices the partition's RAM.
    #[cfg(target_arch = "x86_64")]
    dma_table:
        Option<vsva_iommu::vtd::pagetable::IoPageTable<vsva_iommu::vtd::pagetable::SecondStage>>,
    console: String,
    line: String,
    stopped: Option<StopReason>,
    dma_faults: Vec<DmaFault>,
}

impl Partition {
    /// Builds partition `index` (its VMID is `index + 1`) from `spec`.
    pub fn create(index: usize, spec: &Spec<'_>) -> Result<Self, CreateError> {
        let vmid = u8::try_from(index + 1).map_err(|_| CreateError::TooManyPartitions)?;
        if spec.vcpus == 0 || spec.vcpus > MAX_VCPUS {
            return Err(CreateError::TooManyVcpus(spec.vcpus));
        }

        if spec.cmdline.len() > CMDLINE_MAX {
            return Err(CreateError::CommandLineTooLong(spec.cmdline.len()));
        }
        let frames = spec.memory.div_ceil(PAGE_SIZE) as usize;
        let ram_host = match spec.host_base {
            // Pinned by the manifest: kept out of the allocator at boot, and
            // taken by one partition at a time.
            Some(at) => {
                if !crate::mem::pinned_contains(at, spec.memory) {
                    return Err(CreateError::PinnedMemory(at));
                }
                let mut in_use = PINNED_IN_USE.lock();
                if in_use.contains(&at) {
                    return Err(CreateError::PinnedMemory(at));
                }
                in_use.push(at);
                at
            }
            None => crate::mem::alloc_frames(frames).ok_or(CreateError::OutOfMemory("RAM"))?,
        };
        let mut p = Partition {
            index,
            name: spec.name.to_string(),
            ram_host,
            ram_frames: frames,
            pinned: spec.host_base.is_some(),
            ram_guest: spec.guest_base,
            ram_size: spec.memory,
            stage2: None,
            vmid,
            vcpus: Vec::new(),
            next_vcpu: 0,
            devices: Vec::new(),
            claimed: Vec::new(),
            window: ConfigWindow::default(),
            #[cfg(target_arch = "x86_64")]
            boot_cr3: 0,
            #[cfg(target_arch = "x86_64")]
            dma_table: None,
            console: String::new(),
            line: String::new(),
            stopped: None,
            dma_faults: Vec::new(),
        };
        // From here on, dropping `p` returns everything taken so far.
        if !phys::fill(ram_host, spec.memory, 0) {
            return Err(CreateError::OutOfMemory("RAM (not managed)"));
        }
        let (entry, image_end) = p.load_image(spec.image)?;
        let boot_tables = p.boot_page_tables()?;
        #[cfg(target_arch = "x86_64")]
        {
            p.boot_cr3 = boot_tables.map_or(0, |(base, _)| base);
        }
        let info_at = p.place_boot_info(spec, image_end, boot_tables)?;
        // The guest starts with its MMU (and so its caches) off: what vsva
        // wrote must be in memory, and nothing of a previous owner's in cache.
        crate::arch::dma::clean_to_point_of_coherency(p.ram_host, p.ram_size);
        p.build_stage2()?;
        for &(segment, bdf) in &spec.devices {
            p.assign(segment, bdf)?;
        }
        let functions: Vec<Bdf> = p.devices.iter().map(|d| d.bdf).collect();
        p.window = ConfigWindow::new(&functions)
            .map_err(|b| CreateError::UnknownDevice(format!("{b} (slot taken twice)")))?;
        for i in 0..spec.vcpus {
            let vcpu = p.new_vcpu(entry, info_at, i as u8);
            p.vcpus.push(VcpuSlot {
                vcpu,
                state: if i == 0 {
                    VcpuState::Runnable
                } else {
                    VcpuState::Off
                },
            });
        }
        info!(
            "partition {} '{}': {} MiB at {:#x} (guest {:#x}), {} vCPU(s), {} device(s), VMID {vmid}",
            index,
            p.name,
            spec.memory >> 20,
            ram_host,
            spec.guest_base,
            spec.vcpus,
            p.devices.len()
        );
        Ok(p)
    }

    fn guest_ram(&self) -> GuestRam {
        GuestRam {
            guest: self.ram_guest,
            host: self.ram_host,
            size: self.ram_size,
        }
    }

    /// Guest-physical `[gpa, gpa + len)` inside the RAM, as a host address.
    fn host_address(&self, gpa: u64, len: u64) -> Option<u64> {
        self.guest_ram().host_address(gpa, len)
    }

    /// Copies the image's segments into RAM; returns the entry point and
    /// the end of the highest segment.
    fn load_image(&mut self, image: &[u8]) -> Result<(u64, u64), CreateError> {
        let elf =
            vsva_boot::elf::Elf::parse(image).map_err(|e| CreateError::BadImage(e.to_string()))?;
        for segment in elf.segments() {
            let s = segment.map_err(|e| CreateError::BadImage(e.to_string()))?;
            let outside = CreateError::ImageOutsideRam {
                start: s.paddr,
                end: s.paddr.saturating_add(s.memsz),
            };
            let host = self.host_address(s.paddr, s.memsz).ok_or(outside)?;
            if !phys::write(host, s.data) {
                return Err(CreateError::OutOfMemory("image"));
            }
        }
        let entry = elf.entry();
        if self.host_address(entry, 4).is_none() {
            return Err(CreateError::BadImage(format!(
                "entry point {entry:#x} outside RAM"
            )));
        }
        Ok((entry, elf.span().1))
    }

    /// x86_64: the identity map the guest is entered on (64-bit mode needs
    /// paging), at the top of its RAM. aarch64 guests start with the MMU off.
    fn boot_page_tables(&mut self) -> Result<Option<(u64, u64)>, CreateError> {
        #[cfg(target_arch = "x86_64")]
        {
            let ram = self.guest_ram();
            vcpu::boot_page_tables(ram.guest, ram.size, &mut |gpa, bytes| ram.write(gpa, bytes))
                .map(Some)
                .ok_or(CreateError::OutOfMemory("boot page tables"))
        }
        #[cfg(not(target_arch = "x86_64"))]
        Ok(None)
    }

    /// Writes the BootInfo on the first page after the image (which ends at
    /// `image_end`); its address.
    fn place_boot_info(
        &mut self,
        spec: &Spec<'_>,
        image_end: u64,
        boot_tables: Option<(u64, u64)>,
    ) -> Result<u64, CreateError> {
        let at = image_end.next_multiple_of(PAGE_SIZE);
        let mut cmdline = [0u8; CMDLINE_MAX];
        cmdline[..spec.cmdline.len()].copy_from_slice(spec.cmdline.as_bytes());
        let info = BootInfo {
            magic: BOOT_MAGIC,
            version: VERSION,
            partition: self.index as u64,
            ram_base: self.ram_guest,
            ram_size: self.ram_size,
            config_base: if spec.devices.is_empty() {
                0
            } else {
                CONFIG_WINDOW_BASE
            },
            config_size: if spec.devices.is_empty() {
                0
            } else {
                vsva_pci::window::WINDOW_SIZE
            },
            boot_tables_base: boot_tables.map_or(0, |t| t.0),
            boot_tables_size: boot_tables.map_or(0, |t| t.1),
            cmdline_len: spec.cmdline.len() as u64,
            cmdline,
        };
        let bytes = info.to_bytes();
        if !self.guest_ram().write(at, &bytes) {
            return Err(CreateError::NoRoomForBootInfo);
        }
        Ok(at)
    }

    /// Stage 2: the RAM and nothing else yet.
    fn build_stage2(&mut self) -> Result<(), CreateError> {
        let mut stage2 = Stage2::new(self.vmid).map_err(CreateError::Stage2)?;
        let mapped = stage2.map(self.ram_guest, self.ram_host, self.ram_size, MapKind::Ram);
        if let Err(e) = mapped {
            stage2.destroy();
            return Err(CreateError::Stage2(e));
        }
        self.stage2 = Some(stage2);
        Ok(())
    }

    /// Assigns a PCI function: its memory BARs mapped 1:1 into stage 2
    /// (device memory, no execution), its DMA translated by the same stage 2
    /// through its SMMU (STE stage 2 with this VMID), bus mastering off until
    /// the guest turns it on.
    fn assign(&mut self, segment: u16, bdf: Bdf) -> Result<(), CreateError> {
        let name = format!("{segment:04x}:{bdf}");
        let (seg, f) = crate::pci::find_bdf(segment, bdf)
            .ok_or_else(|| CreateError::UnknownDevice(name.clone()))?;
        let isolate = |why: String| CreateError::DeviceNotIsolated(format!("{name}: {why}"));
        // Behind a bridge, DMA to a peer may be routed before it reaches the
        // IOMMU unless the bridges enforce ACS, and functions may share an
        // alias requester ID; neither is checked yet, so only functions on
        // a root bus (integrated, or directly below the host bridge) go.
        let root_bus = crate::platform::PLATFORM
            .get()
            .and_then(|p| p.ecam.iter().find(|e| e.segment == segment))
            .map_or(0, |e| e.bus_start);
        if bdf.bus() != root_bus {
            return Err(isolate(format!(
                "it is behind a bridge (bus {:#04x}); peer-to-peer isolation (ACS) is not checked yet",
                bdf.bus()
            )));
        }
        // The configuration window shows one segment.
        if self.devices.iter().any(|d| d.segment != segment) {
            return Err(isolate(
                "a partition's functions must share one PCI segment".into(),
            ));
        }
        // A BAR is mapped by whole pages: a page it shares with another
        // function's BAR would hand that function over too.
        let pages = |b: &vsva_pci::Bar| {
            let start = b.address & !(PAGE_SIZE - 1);
            start..(b.address + b.size).next_multiple_of(PAGE_SIZE)
        };
        let memory_bars = |func: &'static crate::pci::PciFunction| {
            func.function
                .bars
                .iter()
                .filter(|b| !matches!(b.kind, BarKind::Io) && b.address != 0 && b.size != 0)
        };
        for other in crate::pci::SEGMENTS
            .get()
            .into_iter()
            .flatten()
            .flat_map(|s| s.functions.iter())
            .filter(|o| !(o.function.segment == segment && o.function.bdf == bdf))
        {
            for mine in memory_bars(f) {
                if memory_bars(other).any(|theirs| {
                    let (a, b) = (pages(mine), pages(theirs));
                    a.start < b.end && b.start < a.end
                }) {
                    return Err(isolate(format!(
                        "BAR{} shares a page with a BAR of {}",
                        mine.index, other.function.bdf
                    )));
                }
            }
        }
        // One owner at a time, whoever builds partitions.
        {
            let mut owned = OWNED.lock();
            if let Some(&(_, _, owner)) = owned.iter().find(|&&(s, b, _)| s == segment && b == bdf)
            {
                return Err(isolate(format!("already assigned to partition {owner}")));
            }
            owned.push((segment, bdf, self.index));
        }
        self.claimed.push((segment, bdf));
        let table = self
            .stage2
            .as_mut()
            .ok_or_else(|| CreateError::Stage2("no table".into()))?;
        for bar in &f.function.bars {
            if matches!(bar.kind, BarKind::Io) || bar.address == 0 || bar.size == 0 {
                continue;
            }
            // The BAR's PCI address is its CPU address on the machines here
            // (QEMU virt and q35 map their memory windows 1:1).
            let size = bar.size.max(PAGE_SIZE);
            table
                .map(bar.address, bar.address, size, MapKind::Device)
                .map_err(|e| CreateError::Stage2(format!("{name} BAR{}: {e}", bar.index)))?;
        }
        vsva_pci::enable(&seg.access, bdf, false, false, false);
        let iommu = self.attach_dma(&name, f)?;
        self.devices.push(Assigned {
            segment,
            bdf,
            iommu,
        });
        Ok(())
    }

    /// Points the function's source ID at the partition's memory through
    /// VT-d: in scalable mode with first-stage translation, the RID_PASID
    /// entry's first stage is the partition's nested page table itself (the
    /// same x86 format, U/S set everywhere); otherwise (second stage only,
    /// or legacy mode) a second-stage table with the same RAM mapping.
    #[cfg(target_arch = "x86_64")]
    fn attach_dma(
        &mut self,
        name: &str,
        f: &crate::pci::PciFunction,
    ) -> Result<Option<(usize, u32)>, CreateError> {
        use vsva_iommu::vtd::pagetable::{IoPageTable, Permissions, SecondStage};
        use vsva_iommu::vtd::tables::{
            AddressWidth, FirstStageLevels, PasidEntry, PasidTranslation, TranslationType,
        };
        use vsva_iommu::vtd::unit::Mode;
        let isolate = |why: String| CreateError::DeviceNotIsolated(format!("{name}: {why}"));
        let (Some(unit), Some(rid)) = (f.iommu, f.stream_id) else {
            return Err(isolate("no IOMMU translates it".into()));
        };
        let rid16 = rid as u16;
        let domain = u16::from(self.vmid);
        let mut vtds = crate::iommu::VTD.lock();
        let vtd = vtds
            .get_mut(unit)
            .ok_or_else(|| isolate("its IOMMU is not a VT-d unit vsva drives".into()))?;
        if !vtd.interrupts_remapped() {
            return Err(isolate(
                "its VT-d unit does not remap interrupts, so its writes to 0xFEEx_xxxx would reach vsva as interrupts".into(),
            ));
        }
        let first_stage = vtd.mode() == Mode::Scalable && vtd.id.ecap.flts();
        let result = if first_stage {
            let root = self
                .stage2
                .as_ref()
                .map(|s| s.root())
                .ok_or_else(|| CreateError::Stage2("no table".into()))?;
            vtd.set_pasid_entry(
                rid16,
                0,
                PasidEntry {
                    fault_processing_disable: false,
                    translation: PasidTranslation::FirstStage {
                        root,
                        levels: FirstStageLevels::Four,
                        supervisor: false,
                        write_protect: false,
                    },
                    domain_id: domain,
                    page_snoop: false,
                    walk_snoop: false,
                },
            )
        } else {
            let kernel = crate::arch::dma::KernelDma;
            let mut table = IoPageTable::<SecondStage>::new(&kernel, vtd.id.cap, vtd.id.ecap, 48)
                .map_err(|e| isolate(format!("second-stage table: {e:?}")))?;
            match table.map(
                &kernel,
                self.ram_guest,
                self.ram_host,
                self.ram_size,
                Permissions::READ | Permissions::WRITE,
            ) {
                Ok(change) => change.finish(&kernel),
                Err(e) => {
                    table.destroy(&kernel).finish(&kernel);
                    return Err(isolate(format!("second-stage map: {e:?}")));
                }
            }
            let width = AddressWidth::from_levels(table.levels())
                .ok_or_else(|| isolate("table levels".into()))?;
            let root = table.root();
            self.dma_table = Some(table);
            if vtd.mode() == Mode::Scalable {
                vtd.set_pasid_entry(
                    rid16,
                    0,
                    PasidEntry {
                        fault_processing_disable: false,
                        translation: PasidTranslation::SecondStage { root, width },
                        domain_id: domain,
                        page_snoop: false,
                        walk_snoop: false,
                    },
                )
            } else {
                vtd.attach_legacy(rid16, domain, TranslationType::Untranslated, root, width)
            }
        };
        result.map_err(|e| isolate(format!("VT-d: {e:?}")))?;
        Ok(Some((unit, rid)))
    }

    /// Points the function's StreamID at this partition's stage 2.
    #[cfg(target_arch = "aarch64")]
    fn attach_dma(
        &mut self,
        name: &str,
        f: &crate::pci::PciFunction,
    ) -> Result<Option<(usize, u32)>, CreateError> {
        use vsva_iommu::smmuv3::structs::{Stage2, Ste, StreamConfig};
        let (Some(unit), Some(sid)) = (f.iommu, f.stream_id) else {
            return Err(CreateError::DeviceNotIsolated(format!(
                "{name}: no IOMMU translates it"
            )));
        };
        let mut smmus = crate::iommu::SMMU.lock();
        let Some(smmu) = smmus.get_mut(unit) else {
            return Err(CreateError::DeviceNotIsolated(format!(
                "{name}: its IOMMU is not an SMMU vsva drives"
            )));
        };
        let table = self
            .stage2
            .as_ref()
            .ok_or_else(|| CreateError::Stage2("no table".into()))?;
        let g = table.smmu_fields(smmu.id.idr0.cohacc());
        let ste = Ste {
            config: StreamConfig::Stage2(Stage2 {
                vmid: u16::from(self.vmid),
                t0sz: g.s2t0sz,
                sl0: g.s2sl0,
                granule: g.s2tg,
                ps: g.s2ps,
                ttb: g.s2ttb,
                record_faults: true,
            }),
            ats: false,
            merge_events: false,
        };
        smmu.set_ste(sid, &ste)
            .map_err(|e| CreateError::DeviceNotIsolated(format!("{name}: STE: {e:?}")))?;
        smmu.invalidate_vmid(u16::from(self.vmid))
            .map_err(|e| CreateError::DeviceNotIsolated(format!("{name}: TLBI: {e:?}")))?;
        Ok(Some((unit, sid)))
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
        (self.ram_guest, self.ram_size)
    }

    /// Host-physical base of its RAM.
    pub fn ram_host(&self) -> u64 {
        self.ram_host
    }

    /// Reads the partition's RAM at guest-physical `gpa` (false when outside).
    pub fn read_guest(&self, gpa: u64, buf: &mut [u8]) -> bool {
        self.guest_ram().read(gpa, buf)
    }

    /// A vCPU in its starting state: at `entry` with `arg` as its first
    /// argument (on x86_64, on the boot page tables).
    fn new_vcpu(&self, entry: u64, arg: u64, index: u8) -> Vcpu {
        #[allow(unused_mut)]
        let mut vcpu = Vcpu::new(entry, arg, index);
        #[cfg(target_arch = "x86_64")]
        vcpu.set_page_tables(self.boot_cr3);
        vcpu
    }

    /// Starts stopped vCPU `index` at guest-physical `entry` with `arg` as
    /// its first argument, in the state vCPU 0 started in.
    pub fn start_vcpu(&mut self, index: u64, entry: u64, arg: u64) -> Result<(), StartError> {
        if self.host_address(entry, 4).is_none() {
            return Err(StartError::Invalid);
        }
        let vcpu = self.new_vcpu(entry, arg, index as u8);
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| self.vcpus.get_mut(i))
            .ok_or(StartError::Invalid)?;
        if slot.state != VcpuState::Off {
            return Err(StartError::AlreadyOn);
        }
        slot.vcpu = vcpu;
        slot.state = VcpuState::Runnable;
        log::debug!(
            "partition '{}': vCPU {index} started at {entry:#x}",
            self.name
        );
        Ok(())
    }

    /// Queues virtual interrupt `intid` for vCPU `vcpu` (a waiting vCPU wakes).
    pub fn inject(&mut self, vcpu: usize, intid: u32) -> bool {
        match self.vcpus.get_mut(vcpu) {
            Some(slot) => slot.vcpu.inject(intid),
            None => false,
        }
    }

    /// Stops the partition (once) and logs why.
    fn stop(&mut self, reason: StopReason) {
        if self.stopped.is_none() {
            self.flush_line();
            match &reason {
                StopReason::Exited(0) | StopReason::PoweredOff => {
                    info!("partition '{}' {reason}", self.name)
                }
                _ => warn!("partition '{}' stopped: {reason}", self.name),
            }
            self.stopped = Some(reason);
            self.quiesce_devices();
        }
    }

    /// A stopped partition's devices may not go on writing into its memory
    /// (which is about to be reused): bus mastering off.
    fn quiesce_devices(&self) {
        for d in &self.devices {
            if let Some((seg, _)) = crate::pci::find_bdf(d.segment, d.bdf) {
                vsva_pci::enable(&seg.access, d.bdf, false, false, false);
            }
        }
    }

    /// Appends console text, logging it line by line with the partition's name.
    fn console_write(&mut self, text: &str) {
        for c in text.chars() {
            if c == '\n' {
                self.flush_line();
            } else if self.line.len() < 512 {
                self.line.push(c);
            }
        }
        if self.console.len() + text.len() > CONSOLE_KEPT {
            let cut = (self.console.len() + text.len()).saturating_sub(CONSOLE_KEPT);
            let cut = (cut..=self.console.len())
                .find(|&i| self.console.is_char_boundary(i))
                .unwrap_or(self.console.len());
            self.console.drain(..cut);
        }
        self.console.push_str(text);
    }

    fn flush_line(&mut self) {
        if !self.line.is_empty() {
            info!("[{}] {}", self.name, self.line);
            self.line.clear();
        }
    }

    /// Whether any vCPU can run now.
    /// The next vCPU that can run, round robin from the one after the last
    /// that ran, so a busy vCPU cannot starve its siblings.
    fn runnable(&self) -> Option<usize> {
        if self.stopped.is_some() {
            return None;
        }
        let n = self.vcpus.len();
        (0..n).map(|k| (self.next_vcpu + k) % n).find(|&i| {
            let s = &self.vcpus[i];
            s.state == VcpuState::Runnable
                || (s.state == VcpuState::Waiting && s.vcpu.has_interrupt())
        })
    }

    /// Runs vCPU `i` for one time slice (or until it waits or stops).
    fn run_slice(&mut self, i: usize, caps: &VirtCaps) {
        self.next_vcpu = (i + 1) % self.vcpus.len().max(1);
        let deadline = uptime_nanos() + SLICE_MS * 1_000_000;
        self.vcpus[i].state = VcpuState::Runnable;
        while self.stopped.is_none() && self.vcpus[i].state == VcpuState::Runnable {
            let now = uptime_nanos();
            if now >= deadline {
                return;
            }
            let Some(stage2) = self.stage2.as_ref() else {
                return;
            };
            let exit = self.vcpus[i].vcpu.run(stage2, caps, deadline - now);
            match exit {
                Exit::Interrupt => {}
                Exit::Hypercall { function, args } => {
                    if hypercall::dispatch(self, i, function, &args) == hypercall::Next::Yield {
                        return;
                    }
                }
                Exit::FirmwareCall { function, args } => {
                    hypercall::firmware(self, i, function, &args);
                }
                Exit::Mmio {
                    ipa,
                    va,
                    size,
                    write,
                } => self.mmio(i, ipa, va, size, write),
                Exit::StageFault {
                    ipa,
                    va,
                    write,
                    reason,
                } => {
                    if self.in_config_window(ipa) {
                        let ram = self.guest_ram();
                        let mut read = |gpa: u64, buf: &mut [u8]| ram.read(gpa, buf);
                        if let Some((bytes, value)) = self.vcpus[i].vcpu.decode_mmio(&mut read) {
                            self.mmio(i, ipa, va, bytes, value);
                            continue;
                        }
                    }
                    let reason = if self.in_config_window(ipa) {
                        format!("{reason}; a configuration-window access vsva cannot emulate")
                    } else {
                        reason
                    };
                    let pc = self.vcpus[i].vcpu.gprs().pc;
                    self.stop(StopReason::Fault {
                        vcpu: i,
                        ipa,
                        va,
                        pc,
                        write,
                        reason,
                    });
                }
                Exit::WaitForInterrupt => {
                    if !self.vcpus[i].vcpu.has_interrupt() {
                        self.vcpus[i].state = VcpuState::Waiting;
                        return;
                    }
                }
                Exit::Unhandled(what) => self.stop(StopReason::Trap { vcpu: i, what }),
            }
        }
    }

    /// An access to an unmapped IPA the syndrome described: the emulated
    /// configuration window, or a fault.
    /// Whether `ipa` is in the emulated configuration window (which only a
    /// partition with devices has).
    fn in_config_window(&self, ipa: u64) -> bool {
        !self.devices.is_empty()
            && (CONFIG_WINDOW_BASE..CONFIG_WINDOW_BASE + vsva_pci::window::WINDOW_SIZE)
                .contains(&ipa)
    }

    fn mmio(&mut self, i: usize, ipa: u64, va: Option<u64>, size: u8, write: Option<u64>) {
        if !self.in_config_window(ipa) || size > 4 {
            let pc = self.vcpus[i].vcpu.gprs().pc;
            self.stop(StopReason::Fault {
                vcpu: i,
                ipa,
                va,
                pc,
                write: write.is_some(),
                reason: "translation fault: nothing is mapped or emulated at this IPA".into(),
            });
            return;
        }
        let at = ipa - CONFIG_WINDOW_BASE;
        let Some(segment) = self.devices.first().map(|d| d.segment) else {
            return;
        };
        let Some(seg) = crate::pci::SEGMENTS
            .get()
            .and_then(|s| s.iter().find(|s| s.segment == segment))
        else {
            return;
        };
        match write {
            Some(value) => {
                self.window.write(&seg.access, at, size, value as u32);
            }
            None => {
                let value = self.window.read(&seg.access, at, size);
                self.vcpus[i].vcpu.complete_read(u64::from(value));
            }
        }
    }
}

impl Drop for Partition {
    /// Returns the partition's resources: devices detached (their STEs
    /// abort again), the VMID's TLB entries dropped, tables and RAM freed.
    fn drop(&mut self) {
        self.quiesce_devices();
        #[cfg(target_arch = "x86_64")]
        for d in &self.devices {
            if let Some((unit, rid)) = d.iommu
                && let Some(vtd) = crate::iommu::VTD.lock().get_mut(unit)
            {
                let _ = vtd.detach(rid as u16, u16::from(self.vmid));
            }
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(table) = self.dma_table.take() {
            table
                .destroy(&crate::arch::dma::KernelDma)
                .finish(&crate::arch::dma::KernelDma);
        }
        #[cfg(target_arch = "aarch64")]
        for d in &self.devices {
            if let Some((unit, sid)) = d.iommu
                && let Some(smmu) = crate::iommu::SMMU.lock().get_mut(unit)
            {
                let _ = smmu.clear_ste(sid);
                let _ = smmu.invalidate_vmid(u16::from(self.vmid));
            }
        }
        if let Some(stage2) = self.stage2.take() {
            stage2.destroy();
        }
        OWNED
            .lock()
            .retain(|&(s, b, _)| !self.claimed.contains(&(s, b)));
        if self.pinned {
            PINNED_IN_USE.lock().retain(|&at| at != self.ram_host);
        } else if let Err(e) = crate::mem::free_frames(self.ram_host, self.ram_frames) {
            warn!("partition '{}': RAM not returned: {e:?}", self.name);
        }
    }
}

/// Runs `partitions` round robin until all have stopped or `limit_ms` has
/// passed (the rest are then stopped with [`StopReason::TimeLimit`]).
/// `before_slice` runs before each time slice (tests use it to inject).
pub fn run(
    partitions: &mut [Partition],
    limit_ms: u64,
    mut before_slice: impl FnMut(&mut [Partition]),
) {
    let caps = vcpu::caps();
    let end = uptime_nanos() + limit_ms * 1_000_000;
    let mut next = 0;
    loop {
        if partitions.iter().all(|p| p.stopped.is_some()) {
            return;
        }
        if uptime_nanos() >= end {
            for p in partitions.iter_mut() {
                let state = p
                    .vcpus
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("vCPU {i} {:?}: {}", s.state, s.vcpu.describe()))
                    .collect::<Vec<_>>()
                    .join("; ");
                p.stop(StopReason::TimeLimit { state });
            }
            return;
        }
        before_slice(partitions);
        let n = partitions.len();
        let found = (0..n)
            .map(|k| (next + k) % n)
            .find_map(|j| Some((j, partitions[j].runnable()?)));
        match found {
            Some((j, i)) => {
                partitions[j].run_slice(i, &caps);
                next = (j + 1) % n;
                collect_dma_faults(partitions);
            }
            // Everyone waits for an interrupt: idle until a timer could have
            // fired (bounded by the limit).
            None => core::hint::spin_loop(),
        }
    }
}

/// A DMA an IOMMU blocked for one of a partition's devices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The requester as the IOMMU saw it (StreamID / source ID).
    pub requester: u32,
    /// The address the device used (an IPA / guest-physical address; page
    /// granular on VT-d).
    pub address: u64,
    pub write: bool,
    /// The IOMMU's reason (SMMUv3 event type / VT-d fault reason), named.
    pub reason: String,
}

/// Most DMA faults kept per partition.
const DMA_FAULTS_KEPT: usize = 64;

/// Drains the IOMMUs that partitions' devices use and hands each recorded
/// fault to the partition that owns the requester (logged, and kept for
/// [`Partition::dma_faults`]). Done after every slice, so a unit with a
/// single fault register (QEMU's VT-d) is free again for the next fault.
fn collect_dma_faults(partitions: &mut [Partition]) {
    let mut units: Vec<usize> = partitions
        .iter()
        .flat_map(|p| p.devices.iter().filter_map(|d| d.iommu.map(|(u, _)| u)))
        .collect();
    units.sort_unstable();
    units.dedup();
    for unit in units {
        // QEMU splits a DMA into 4-byte accesses, each with its own record:
        // log one line per requester and page.
        let mut last_logged = None;
        for fault in drain_unit(unit) {
            let owner = partitions.iter_mut().find(|p| {
                p.devices
                    .iter()
                    .any(|d| d.iommu == Some((unit, fault.requester)))
            });
            if let Some(p) = owner {
                let key = (fault.requester, fault.address & !0xfff);
                if last_logged == Some(key) {
                    if p.dma_faults.len() < DMA_FAULTS_KEPT {
                        p.dma_faults.push(fault);
                    }
                    continue;
                }
                last_logged = Some(key);
                warn!(
                    "partition '{}': DMA blocked: {} by requester {:#x} at {:#x} ({})",
                    p.name,
                    if fault.write { "write" } else { "read" },
                    fault.requester,
                    fault.address,
                    fault.reason
                );
                if p.dma_faults.len() < DMA_FAULTS_KEPT {
                    p.dma_faults.push(fault);
                }
            }
        }
    }
}

/// The faults an IOMMU recorded since the last drain.
fn drain_unit(unit: usize) -> Vec<DmaFault> {
    #[cfg(target_arch = "aarch64")]
    {
        use vsva_iommu::smmuv3::queue::event_type;
        let events = crate::iommu::SMMU
            .lock()
            .get_mut(unit)
            .map(|s| s.take_events().0)
            .unwrap_or_default();
        events
            .into_iter()
            .map(|e| DmaFault {
                requester: e.stream_id,
                address: e.address,
                write: !e.read,
                reason: match e.kind {
                    event_type::F_TRANSLATION => "F_TRANSLATION".into(),
                    event_type::F_PERMISSION => "F_PERMISSION".into(),
                    event_type::C_BAD_STE => "C_BAD_STE".into(),
                    other => format!("event {other:#x}"),
                },
            })
            .collect()
    }
    #[cfg(target_arch = "x86_64")]
    {
        crate::iommu::VTD
            .lock()
            .get_mut(unit)
            .map(|v| v.take_faults())
            .unwrap_or_default()
            .into_iter()
            .map(|f| DmaFault {
                requester: u32::from(f.source_id),
                address: f.address,
                write: f.write,
                reason: format!("fault reason {:#x}", f.reason),
            })
            .collect()
    }
}

/// Builds and runs the partitions of the manifest built into the image.
pub fn boot_manifest(limit_ms: u64) {
    let blob = crate::manifest::blob();
    let specs = match crate::manifest::specs(blob) {
        Ok(s) => s,
        Err(e) => {
            warn!("manifest: {e}");
            return;
        }
    };
    if specs.is_empty() {
        return;
    }
    if let Err(e) = vcpu::init() {
        warn!("cannot run partitions: {e}");
        return;
    }
    let mut partitions = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match Partition::create(i, spec) {
            Ok(p) => partitions.push(p),
            Err(e) => warn!("partition '{}' not started: {e}", spec.name),
        }
    }
    run(&mut partitions, limit_ms, |_| {});
    for p in &partitions {
        info!(
            "partition '{}': {}",
            p.name,
            p.stopped()
                .map_or_else(|| "running".into(), |r| r.to_string())
        );
    }
}
