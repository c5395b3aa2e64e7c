//! Making a partition: RAM (allocated or pinned), the guest image loaded,
//! the boot information, the stage-2 table, the vSVA service told of it,
//! its devices, its vCPUs.

use alloc::string::ToString;
use alloc::vec::Vec;

use log::{info, warn};
use vsva_abi::sva::{TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE};
use vsva_abi::{BOOT_MAGIC, BootInfo, CMDLINE_MAX, CONFIG_WINDOW_BASE, VERSION};
use vsva_pci::{Bdf, ConfigWindow};
use vsva_sva::DEFAULT_SHADOW_PAGES;
use vsva_sva::backend::{Domain, Stage2Desc};
use vsva_sva::events::EventConfig;
use vsva_sva::guest::GuestRam;

use super::memory::RamAccess;
use super::{CreateError, Iommu, MAX_VCPUS, Partition, Spec, VcpuSlot, VcpuState};
use crate::arch::dma::phys;
use crate::arch::vcpu::{MapKind, Stage2, Vcpu};
use crate::iommu::Iommus;
use crate::log_budget::LogBudget;
use crate::mem::PAGE_SIZE;

/// Pinned RAM ranges (base, size) a partition holds.
static PINNED_IN_USE: spin::Mutex<Vec<(u64, u64)>> = spin::Mutex::new(Vec::new());

impl Partition {
    /// Builds partition `index` (its VMID is `index + 1`) from `spec`, its
    /// devices on the units of `iommus`.
    pub fn create(
        index: usize,
        spec: &Spec<'_>,
        iommus: &'static Iommus,
    ) -> Result<Self, CreateError> {
        let vmid = u8::try_from(index + 1).map_err(|_| CreateError::TooManyPartitions)?;
        if spec.vcpus == 0 || spec.vcpus > MAX_VCPUS {
            return Err(CreateError::TooManyVcpus(spec.vcpus));
        }
        if spec.cmdline.len() > CMDLINE_MAX {
            return Err(CreateError::CommandLineTooLong(spec.cmdline.len()));
        }
        // Guest-physical ranges vsva gives other meanings (the manifest's
        // checker says so too, but the blob is not trusted).
        let ram_end = spec.guest_base.checked_add(spec.memory);
        for (base, size) in [
            (CONFIG_WINDOW_BASE, vsva_pci::window::WINDOW_SIZE),
            (TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE),
        ] {
            if ram_end.is_none_or(|end| spec.guest_base < base + size && base < end) {
                return Err(CreateError::RamOverlapsWindow { base, size });
            }
        }
        let frames = spec.memory.div_ceil(PAGE_SIZE) as usize;
        let host = match spec.host_base {
            // Pinned by the manifest: kept out of the allocator at boot, and
            // taken by one partition at a time.
            Some(at) => claim_pinned(at, spec.memory)?,
            None => crate::mem::alloc_frames(frames).ok_or(CreateError::OutOfMemory("RAM"))?,
        };
        let mut p = Partition {
            index,
            name: spec.name.to_string(),
            iommus,
            iommu: Iommu::Unregistered,
            ram: GuestRam {
                guest: spec.guest_base,
                host,
                size: spec.memory,
            },
            ram_frames: frames,
            pinned: spec.host_base.is_some(),
            stage2: None,
            vmid,
            vcpus: Vec::new(),
            next_vcpu: 0,
            devices: Vec::new(),
            claimed: Vec::new(),
            unreset: Vec::new(),
            window: ConfigWindow::default(),
            #[cfg(target_arch = "x86_64")]
            boot_cr3: 0,
            console: alloc::string::String::new(),
            line: alloc::string::String::new(),
            stopped: None,
            dma_faults: Vec::new(),
            log_budget: LogBudget::new(),
        };
        // From here on, dropping `p` returns everything taken so far.
        if !phys::fill(host, spec.memory, 0) {
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
        crate::arch::dma::clean_to_point_of_coherency(p.ram.host, p.ram.size);
        p.build_stage2()?;
        p.register(spec.pasid_quota, spec.page_request_timeout_ms)?;
        for &(segment, bdf) in &spec.devices {
            p.assign(segment, bdf, spec.without_reset.contains(&(segment, bdf)))?;
        }
        let functions: Vec<Bdf> = p.devices.iter().map(|d| d.bdf).collect();
        p.window = ConfigWindow::new(&functions).map_err(|bdf| CreateError::DeviceNotIsolated {
            segment: p.devices.first().map_or(0, |d| d.segment),
            bdf,
            why: super::Isolation::SlotTaken,
        })?;
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
            host,
            spec.guest_base,
            spec.vcpus,
            p.devices.len()
        );
        Ok(p)
    }

    /// Copies the image's segments into RAM; returns the entry point and
    /// the end of the highest segment.
    fn load_image(&mut self, image: &[u8]) -> Result<(u64, u64), CreateError> {
        let elf = vsva_boot::elf::Elf::parse(image).map_err(CreateError::BadImage)?;
        for segment in elf.segments() {
            let s = segment.map_err(CreateError::BadImage)?;
            let outside = CreateError::ImageOutsideRam {
                start: s.paddr,
                end: s.paddr.saturating_add(s.memsz),
            };
            let host = self.ram.host_address(s.paddr, s.memsz).ok_or(outside)?;
            if !phys::write(host, s.data) {
                return Err(CreateError::OutOfMemory("image"));
            }
        }
        let entry = elf.entry();
        if !self.ram.contains(entry, 4) {
            return Err(CreateError::EntryOutsideRam(entry));
        }
        Ok((entry, elf.span().1))
    }

    /// x86_64: the identity map the guest is entered on (64-bit mode needs
    /// paging), at the top of its RAM. aarch64 guests start with the MMU off.
    fn boot_page_tables(&mut self) -> Result<Option<(u64, u64)>, CreateError> {
        #[cfg(target_arch = "x86_64")]
        {
            let ram = RamAccess(self.ram);
            crate::arch::vcpu::boot_page_tables(self.ram.guest, self.ram.size, &mut |gpa, bytes| {
                ram.write(gpa, bytes)
            })
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
        let window = !spec.devices.is_empty();
        let info = BootInfo {
            magic: BOOT_MAGIC,
            version: VERSION,
            partition: self.index as u64,
            ram_base: self.ram.guest,
            ram_size: self.ram.size,
            config_base: if window { CONFIG_WINDOW_BASE } else { 0 },
            config_size: if window {
                vsva_pci::window::WINDOW_SIZE
            } else {
                0
            },
            boot_tables_base: boot_tables.map_or(0, |t| t.0),
            boot_tables_size: boot_tables.map_or(0, |t| t.1),
            cmdline_len: spec.cmdline.len() as u64,
            cmdline,
        };
        if !RamAccess(self.ram).write(at, &info.to_bytes()) {
            return Err(CreateError::NoRoomForBootInfo);
        }
        Ok(at)
    }

    /// Stage 2: the RAM and nothing else yet.
    fn build_stage2(&mut self) -> Result<(), CreateError> {
        let mut stage2 = Stage2::new(self.vmid).map_err(CreateError::Stage2)?;
        if let Err(e) = stage2.map(self.ram.guest, self.ram.host, self.ram.size, MapKind::Ram) {
            stage2.destroy();
            return Err(CreateError::Stage2(e));
        }
        self.stage2 = Some(stage2);
        Ok(())
    }

    /// Tells the vSVA service of the partition: its domain (VMID, RAM,
    /// stage 2), its PASID quota, the interrupts its event ring may raise
    /// and how long its page requests may wait.
    fn register(&mut self, pasid_quota: u32, timeout_ms: u32) -> Result<(), CreateError> {
        let stage2 = self
            .stage2
            .as_ref()
            .ok_or(CreateError::OutOfMemory("stage 2"))?;
        let domain = Domain {
            id: u16::from(self.vmid),
            ram: self.ram,
            stage2: stage2_desc(stage2),
        };
        let mut service = self.iommus.lock();
        service
            .add_partition(self.id(), domain, pasid_quota, DEFAULT_SHADOW_PAGES)
            .map_err(CreateError::Iommu)?;
        self.iommu = Iommu::Registered;
        let events = EventConfig {
            intids: Vcpu::INJECTABLE,
            request_timeout_ns: u64::from(timeout_ms) * 1_000_000,
        };
        service
            .set_event_config(self.id(), events)
            .map_err(CreateError::Iommu)
    }

    /// A vCPU in its starting state: at `entry` with `arg` as its first
    /// argument (on x86_64, on the boot page tables).
    pub(super) fn new_vcpu(&self, entry: u64, arg: u64, index: u8) -> Vcpu {
        #[allow(unused_mut)]
        let mut vcpu = Vcpu::new(entry, arg, index);
        #[cfg(target_arch = "x86_64")]
        vcpu.set_page_tables(self.boot_cr3);
        vcpu
    }
}

/// How IOMMUs share a partition's stage 2.
fn stage2_desc(stage2: &Stage2) -> Stage2Desc {
    #[cfg(target_arch = "x86_64")]
    {
        Stage2Desc::X86 {
            root: stage2.root(),
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        Stage2Desc::Vmsa {
            fields: stage2.smmu_fields(true),
            ipa_bits: Stage2::IPA_BITS,
        }
    }
}

/// Takes the pinned range `[at, at + size)` for one partition: it must have
/// been kept out of the allocator at boot and overlap no range another
/// partition holds.
fn claim_pinned(at: u64, size: u64) -> Result<u64, CreateError> {
    if !crate::mem::pinned_contains(at, size) {
        return Err(CreateError::PinnedMemory(at));
    }
    let mut in_use = PINNED_IN_USE.lock();
    let end = at.saturating_add(size);
    if in_use
        .iter()
        .any(|&(base, len)| at < base.saturating_add(len) && base < end)
    {
        return Err(CreateError::PinnedMemory(at));
    }
    in_use.push((at, size));
    Ok(at)
}

/// Gives the partition's RAM back (to the allocator, or as pinned RAM no
/// partition holds).
pub(super) fn release_ram(p: &Partition) {
    if p.pinned {
        PINNED_IN_USE.lock().retain(|&(at, _)| at != p.ram.host);
    } else if let Err(e) = crate::mem::free_frames(p.ram.host, p.ram_frames) {
        warn!("partition '{}': RAM not returned: {e:?}", p.name);
    }
}
