//! In-kernel tests of partitions, with the reference guest and the test
//! manifest (`tests/partitions.toml`) xtask builds into the test image.

use alloc::vec;
use alloc::vec::Vec;

use ktest::{Failure, check, check_eq, fail, ktest};

use super::{Partition, StopReason, run};
use crate::manifest;

/// The exit codes of the reference guest (guest/reference/src/guest.rs).
const INTERRUPT_BASE: u64 = 0x100;

/// Builds the manifest's partitions named `names`, in that order.
fn build(names: &[&str]) -> Result<Vec<Partition>, Failure> {
    names.iter().map(|name| build_one(name, None)).collect()
}

/// The guest-physical RAM (base, size) the test manifest gives `name`.
pub(super) fn guest_ram_of(name: &str) -> Result<(u64, u64), Failure> {
    let specs = manifest::specs(manifest::blob()).map_err(|e| fail!("{e}"))?;
    let spec = specs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| fail!("the test manifest has no partition '{name}'"))?;
    Ok((spec.guest_base, spec.memory))
}

/// Builds the manifest's partition `name`, with `cmdline` instead of its own.
pub(super) fn build_one(name: &str, cmdline: Option<&str>) -> Result<Partition, Failure> {
    crate::arch::vcpu::init().map_err(|e| fail!("vCPU support: {e:?}"))?;
    let specs = manifest::specs(manifest::blob()).map_err(|e| fail!("{e}"))?;
    let (index, spec) = specs
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == name)
        .ok_or_else(|| fail!("the test manifest has no partition '{name}'"))?;
    let mut spec = spec.clone();
    if let Some(cmdline) = cmdline {
        spec.cmdline = cmdline;
    }
    Partition::create(index, &spec, crate::iommu::iommus()).map_err(|e| fail!("'{name}': {e}"))
}

pub(super) fn stopped(p: &Partition) -> Result<&StopReason, Failure> {
    p.stopped()
        .ok_or_else(|| fail!("'{}' still running", p.name))
}

ktest! {
    /// Two partitions boot, print through the console hypercall, fill
    /// memory and read it back; the fill is in their own host pages.
    fn two_partitions_print_and_own_their_memory() {
        let mut ps = build(&["alpha", "beta"])?;
        run(&mut ps, 10_000, |_| {});
        for p in &ps {
            check_eq!(stopped(p)?, &StopReason::Exited(0));
            check!(
                p.console().contains(&alloc::format!("hello from partition {}", p.index)),
                "'{}' did not greet: {:?}", p.name, p.console()
            );
            check!(p.console().contains("read back"), "'{}': {:?}", p.name, p.console());
            let (base, size) = p.ram();
            let mut bytes = [0u8; 64];
            check!(p.read_guest(base + size / 2, &mut bytes));
            let fill = 0xa0u8.wrapping_add(p.index as u8);
            check!(
                bytes.iter().all(|&b| b == fill),
                "'{}': host pages hold {:#x?}, not {fill:#x}", p.name, &bytes[..8]
            );
        }
        check!(ps[0].ram_host() != ps[1].ram_host());
        Ok(())
    }
}

ktest! {
    /// A guest writing outside its RAM is stopped with the address and the
    /// stage-2 fault; the other partition finishes normally.
    fn a_partition_touching_memory_outside_it_is_stopped() {
        let mut ps = build(&["escaper", "alpha"])?;
        run(&mut ps, 10_000, |_| {});
        match stopped(&ps[0])? {
            StopReason::Fault { ipa, write, reason, .. } => {
                check_eq!(*ipa, 0x7000_0000);
                check!(*write);
                check!(reason.contains("translation fault"), "{reason}");
            }
            other => return Err(fail!("escaper: {other}")),
        }
        check!(!ps[0].console().contains("not stopped"));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        Ok(())
    }
}

ktest! {
    /// A guest spinning with interrupts masked is preempted: the other
    /// partition runs to its end; the spinner is still spinning at the limit.
    fn a_spinning_partition_does_not_stop_the_other() {
        let mut ps = build(&["spinner", "alpha"])?;
        run(&mut ps, 3_000, |_| {});
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        check!(
            matches!(stopped(&ps[0])?, StopReason::TimeLimit { .. }),
            "spinner: {}", stopped(&ps[0])?
        );
        check!(ps[0].console().contains("hello"), "the spinner never ran");
        Ok(())
    }
}

ktest! {
    /// A virtual interrupt injected by vsva (a list register) runs the
    /// guest's handler, which reports its INTID.
    fn an_injected_virtual_interrupt_runs_the_guest_handler() {
        const INTID: u32 = 40;
        let mut ps = build(&["listener"])?;
        let mut injected = false;
        run(&mut ps, 5_000, |ps| {
            if !injected && ps[0].console().contains("waiting for an interrupt") {
                injected = ps[0].inject(0, INTID);
            }
        });
        check!(injected, "the guest never waited: {:?}", ps[0].console());
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(INTERRUPT_BASE + u64::from(INTID)));
        check!(ps[0].console().contains("virtual interrupt 40 handled"));
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
ktest! {
    /// The guest's virtual timer: armed by the guest, its expiry reaches the
    /// guest as virtual INTID 27, also while the vCPU waits in WFI.
    fn the_virtual_timer_interrupts_the_guest() {
        let mut ps = build(&["ticker"])?;
        run(&mut ps, 5_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(INTERRUPT_BASE + 27));
        Ok(())
    }
}

ktest! {
    /// FP/SIMD registers are part of a vCPU's context: two partitions that
    /// keep different values in the same register while yielding to each
    /// other 50 times both find their own value every time.
    fn fp_simd_state_is_per_partition() {
        let mut ps = build(&["fp-one", "fp-two"])?;
        run(&mut ps, 10_000, |_| {});
        for p in &ps {
            check_eq!(stopped(p)?, &StopReason::Exited(0));
            check!(p.console().contains("kept across 50 switches"), "{:?}", p.console());
        }
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
ktest! {
    /// PSCI by SMC: VERSION says 1.1, FEATURES knows SYSTEM_OFF and not an
    /// unassigned ID, and SYSTEM_OFF powers the partition off.
    fn psci_calls_are_answered_and_system_off_stops_the_partition() {
        let mut ps = build(&["psci"])?;
        run(&mut ps, 5_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::PoweredOff);
        Ok(())
    }
}

ktest! {
    /// A guest doing what vsva does not serve (a trapped register, a triple
    /// fault) is stopped with what it did; the other partition finishes.
    fn a_misbehaving_partition_is_stopped_and_reported() {
        let mut ps = build(&["rogue", "alpha"])?;
        run(&mut ps, 10_000, |_| {});
        match stopped(&ps[0])? {
            StopReason::Trap { what, .. } => {
                let expected = if cfg!(target_arch = "aarch64") { "MSR/MRS" } else { "shutdown" };
                check!(what.contains(expected), "{what}");
            }
            other => return Err(fail!("rogue: {other}")),
        }
        check!(!ps[0].console().contains("still running"));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        Ok(())
    }
}

ktest! {
    /// A two-vCPU partition: vCPU 1 starts only when vCPU 0 asks
    /// (VcpuStart), runs time-shared with it, and its output arrives.
    fn a_second_vcpu_starts_on_request_and_runs() {
        let mut ps = build(&["duo"])?;
        run(&mut ps, 10_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("hello from vCPU 1"), "{:?}", ps[0].console());
        check!(ps[0].console().contains("two vCPUs ran"));
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
ktest! {
    /// PKRU (protection keys), which VMRUN does not switch, is per
    /// partition: two guests keeping different values across 50 switches.
    fn pkru_is_per_partition() {
        if !crate::arch::vcpu::has_pku() {
            crate::arch::vcpu::init().map_err(|e| fail!("{e}"))?;
        }
        if !crate::arch::vcpu::has_pku() {
            ktest::skip!("the CPU has no protection keys");
        }
        let mut ps = build(&["keys-one", "keys-two"])?;
        run(&mut ps, 10_000, |_| {});
        for p in &ps {
            check_eq!(stopped(p)?, &StopReason::Exited(0));
            check!(p.console().contains("kept across 50 switches"), "{:?}", p.console());
        }
        Ok(())
    }
}

ktest! {
    /// A partition whose manifest pins its RAM at a host address gets that
    /// RAM (kept out of the allocator at boot), and its guest's writes land
    /// in those host pages.
    fn pinned_ram_is_where_the_manifest_says() {
        let expected = if cfg!(target_arch = "aarch64") { 0x5800_0000 } else { 0x0c00_0000 };
        let mut ps = build(&["pinned"])?;
        check_eq!(ps[0].ram_host(), expected);
        check!(
            crate::mem::alloc_frames(1).is_none_or(|f| {
                let _ = crate::mem::free_frames(f, 1);
                !(expected..expected + (8 << 20)).contains(&f)
            }),
            "the allocator hands out pinned RAM"
        );
        run(&mut ps, 10_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        let mut bytes = [0u8; 64];
        check!(crate::arch::dma::phys::read(expected + (4 << 20), &mut bytes));
        let fill = 0xa0u8.wrapping_add(ps[0].index as u8);
        check!(bytes.iter().all(|&b| b == fill), "{:x?}", &bytes[..8]);
        // Held by one partition at a time.
        check!(build(&["pinned"]).is_err(), "the pinned RAM was handed out twice");
        Ok(())
    }
}

ktest! {
    /// An access to the configuration window that vsva cannot emulate (a
    /// load pair on aarch64, an ADD from memory on x86_64) stops the
    /// partition with the address, and leaves vsva running.
    fn an_unemulated_config_window_access_stops_the_partition() {
        let mut ps = vec![build_one("edu-owner", Some("bad-mmio"))?];
        run(&mut ps, 5_000, |_| {});
        match stopped(&ps[0])? {
            StopReason::Fault { ipa, reason, .. } => {
                check_eq!(*ipa, vsva_abi::CONFIG_WINDOW_BASE);
                check!(reason.contains("cannot emulate"), "{reason}");
            }
            other => return Err(fail!("{other}")),
        }
        check!(!ps[0].console().contains("still running"));
        Ok(())
    }
}

#[cfg(target_arch = "aarch64")]
ktest! {
    /// PSCI CPU_ON starts the second vCPU like VcpuStart; CPU_OFF (from
    /// the secondary) leaves it off without stopping the partition.
    fn psci_cpu_on_starts_a_second_vcpu() {
        let mut ps = build(&["duo-psci"])?;
        run(&mut ps, 10_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("hello from vCPU 1"), "{:?}", ps[0].console());
        Ok(())
    }
}

ktest! {
    /// Hypercalls with hostile arguments (addresses outside the caller,
    /// wrapping, too long, unknown numbers) fail with typed errors.
    fn hostile_hypercall_arguments_are_refused() {
        let mut ps = build(&["hostile"])?;
        run(&mut ps, 5_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("bad calls refused"));
        check!(ps[0].console().contains("bad vSVA calls refused"), "{:?}", ps[0].console());
        Ok(())
    }
}

ktest! {
    /// Device assignment: the guest finds edu through its configuration
    /// window, DMAs into its own RAM through the SMMU (its stage 2 is the
    /// partition's) and the data arrives. DMA aimed at another partition's
    /// RAM or at vsva's own memory is blocked: F_TRANSLATION events name
    /// edu's StreamID and the address, and that memory is unchanged.
    fn an_assigned_device_reaches_only_its_partition() {
        use crate::arch::dma::phys;
        let (_, edu) = crate::pci::find(0x1234, 0x11e8).ok_or_else(|| fail!("no edu"))?;
        let sid = edu.stream_id.ok_or_else(|| fail!("edu has no IOMMU"))?;
        let other = build_one("alpha", None)?;
        // The owner's RAM is guest-physical 0x4000_0000 + 16 MiB: targets must
        // lie outside it, or the DMA would rightly land in the owner's own RAM.
        let owner_window = 0x4000_0000..0x4100_0000u64;
        let (_, other_size) = other.ram();
        // A page the other guest leaves alone: above its image, below the
        // middle it tests, away from the boot page tables at the top (x86).
        let other_target = other.ram_host() + other_size / 4;
        check!(!owner_window.contains(&other_target), "{other_target:#x}");
        // A frame of vsva's own, outside that window.
        let mut spare = Vec::new();
        let vsva_target = loop {
            let f = crate::mem::alloc_frames(1).ok_or_else(|| fail!("out of frames"))?;
            if !owner_window.contains(&f) {
                break f;
            }
            spare.push(f);
            check!(spare.len() < 8192, "no frame outside the owner's window");
        };
        for f in spare {
            let _ = crate::mem::free_frames(f, 1);
        }
        check!(phys::fill(vsva_target, 4096, 0xc3));
        // Also the interrupt address range: on x86 a write there is an
        // interrupt request, which must be blocked (interrupt remapping)
        // rather than reach vsva (edu's data would make it vector 0x5a).
        const MSI_RANGE: u64 = 0xfee0_0000;
        let cmdline = alloc::format!("edu={other_target:#x},{vsva_target:#x},{MSI_RANGE:#x}");
        let owner = build_one("edu-owner", Some(&cmdline))?;
        let mut ps = alloc::vec![owner, other];
        run(&mut ps, 20_000, |_| {});
        let mut vsva_bytes = [0u8; 64];
        let mut other_bytes = [0u8; 64];
        check!(phys::read(vsva_target, &mut vsva_bytes));
        check!(phys::read(other_target, &mut other_bytes));
        let _ = crate::mem::free_frames(vsva_target, 1);
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check_eq!(stopped(&ps[1])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("arrived"), "{:?}", ps[0].console());
        // The data is in the owner's own host pages.
        let (base, size) = ps[0].ram();
        let mut landed = [0u8; 64];
        check!(ps[0].read_guest(base + size / 2 + 0x10_1000, &mut landed));
        let pattern = 0x5au8.wrapping_add(ps[0].index as u8);
        check!(landed.iter().all(|&b| b == pattern), "{:x?}", &landed[..8]);
        check!(vsva_bytes.iter().all(|&b| b == 0xc3), "vsva's memory changed");
        check!(other_bytes.iter().all(|&b| b == 0), "the other partition's memory changed");
        // Each blocked DMA reached the owner as a fault with its address.
        let faults = ps[0].dma_faults();
        for target in [other_target, vsva_target] {
            check!(
                faults
                    .iter()
                    .any(|f| f.requester == sid && f.address == target && f.write),
                "no fault for a DMA to {target:#x} by {sid:#x}: {faults:x?}"
            );
        }
        check!(ps[1].dma_faults().is_empty(), "the other partition got faults");
        Ok(())
    }
}

ktest! {
    /// edu's BAR0 as firmware placed it passes the placement checks; the
    /// same function reporting BAR0 on RAM, on vsva's image, on the IOMMU's
    /// registers, on ECAM, or near the top of the address space is refused
    /// (the guest would get that memory mapped 1:1); a BAR no window had
    /// room for is refused too.
    fn bars_on_ram_registers_or_ecam_are_not_given_to_guests() {
        use super::assign::{Isolation, check_bars};
        use vsva_pci::placement::Misplaced;
        let (_, edu) = crate::pci::find(0x1234, 0x11e8).ok_or_else(|| fail!("no edu"))?;
        check_eq!(check_bars(edu), Ok(()));
        let platform = crate::platform::PLATFORM.get().ok_or_else(|| fail!("no platform"))?;
        let ram = crate::boot_info()
            .map(crate::arch::platform::memory_regions)
            .and_then(|rs| rs.iter().find(|r| r.kind == vsva_boot::RegionKind::Usable))
            .map(|r| r.start + r.len / 2)
            .ok_or_else(|| fail!("no RAM in the memory map"))?;
        let image = crate::mem::image::layout().start;
        let iommu = platform.iommus.first().map(|u| u.base).ok_or_else(|| fail!("no IOMMU"))?;
        let ecam = platform.ecam.first().map(|e| e.base).ok_or_else(|| fail!("no ECAM"))?;
        for (address, what) in [(ram, "RAM"), (image, "image"), (iommu, "IOMMU"), (ecam, "ECAM")] {
            let mut moved = edu.clone();
            let bar = moved.function.bars.iter_mut().find(|b| b.index == 0).ok_or_else(|| fail!("no BAR0"))?;
            bar.address = address & !0xfff;
            check!(
                matches!(check_bars(&moved), Err(Isolation::BarMisplaced { bar: 0, .. })),
                "BAR0 on {what} at {address:#x}: {:?}", check_bars(&moved)
            );
        }
        let mut high = edu.clone();
        if let Some(bar) = high.function.bars.iter_mut().find(|b| b.index == 0) {
            bar.address = !0xfff;
        }
        check_eq!(
            check_bars(&high),
            Err(Isolation::BarMisplaced { bar: 0, why: Misplaced::Wraps })
        );
        let mut unplaced = edu.clone();
        unplaced.unplaced.push(0);
        check_eq!(check_bars(&unplaced), Err(Isolation::BarUnplaced { bar: 0 }));
        Ok(())
    }
}

ktest! {
    /// x86: string port input (`rep insb`) is not emulated half-way: the
    /// guest takes #GP(0) (its handler exits with 0xe000 + 13) instead of
    /// running on with RAX changed, RCX unchanged and nothing in memory.
    fn string_port_io_raises_a_general_protection_fault() {
        if !cfg!(target_arch = "x86_64") {
            return Ok(());
        }
        check_eq!(run_alone("alpha", Some("port-string"))?, StopReason::Exited(0xe000 + 13));
        Ok(())
    }
}

ktest! {
    /// Intercepted instructions a guest prefixes are stepped over whole
    /// (SVM on QEMU gives no next RIP): after WBNOINVD (`F3 0F 09`) and a
    /// CS-prefixed WBINVD the guest runs on at the next instruction and
    /// exits normally, instead of executing the tail of one (`09 ..`).
    fn prefixed_intercepted_instructions_are_stepped_over_whole() {
        if !cfg!(target_arch = "x86_64") {
            return Ok(());
        }
        check_eq!(run_alone("alpha", Some("prefixed exit=0x77"))?, StopReason::Exited(0x77));
        Ok(())
    }
}

/// Builds the manifest's partition `name` (with `cmdline` instead of its
/// own), runs it alone to its end and returns why it stopped.
fn run_alone(name: &str, cmdline: Option<&str>) -> Result<StopReason, Failure> {
    let mut ps = vec![build_one(name, cmdline)?];
    run(&mut ps, 10_000, |_| {});
    stopped(&ps[0]).cloned()
}

/// Why a partition was refused a device, if it was.
fn refused(r: Result<Partition, super::CreateError>) -> Option<super::assign::Isolation> {
    match r {
        Err(super::CreateError::DeviceNotIsolated { why, .. }) => Some(why),
        _ => None,
    }
}

/// Builds the manifest's partition `name` with `devices` instead of its own;
/// `without_reset`: the manifest lets each go without a reset.
fn build_with(
    name: &str,
    devices: &[(u8, u8, u8)],
    without_reset: bool,
) -> Result<Result<Partition, super::CreateError>, Failure> {
    crate::arch::vcpu::init().map_err(|e| fail!("vCPU support: {e:?}"))?;
    let specs = manifest::specs(manifest::blob()).map_err(|e| fail!("{e}"))?;
    let (index, spec) = specs
        .iter()
        .enumerate()
        .find(|(_, s)| s.name == name)
        .ok_or_else(|| fail!("the test manifest has no partition '{name}'"))?;
    let mut spec = spec.clone();
    spec.devices = devices
        .iter()
        .map(|&(b, d, f)| (0, vsva_pci::Bdf::new(b, d, f).expect("a valid address")))
        .collect();
    spec.without_reset = if without_reset {
        spec.devices.clone()
    } else {
        Vec::new()
    };
    Ok(Partition::create(index, &spec, crate::iommu::iommus()))
}

ktest! {
    /// Bridges are never given to a partition (the host bridge 00:00.0;
    /// on q35 the ICH9 LPC bridge 00:1f.0), and the functions of a device
    /// without isolating ACS go to one partition only: once one partition
    /// has ICH9's SATA function 00:1f.2, another cannot have its SMBus
    /// function 00:1f.3, while the first may.
    fn bridges_and_split_device_groups_are_refused() {
        use super::assign::Isolation;
        check_eq!(refused(build_with("alpha", &[(0, 0, 0)], true)?), Some(Isolation::Bridge));
        if !cfg!(target_arch = "x86_64") {
            return Ok(());
        }
        check_eq!(refused(build_with("alpha", &[(0, 0x1f, 0)], true)?), Some(Isolation::Bridge));
        // ICH9's SATA and SMBus functions have no reset: let them go without.
        let first =
            build_with("alpha", &[(0, 0x1f, 2)], true)?.map_err(|e| fail!("00:1f.2: {e}"))?;
        let second = refused(build_with("beta", &[(0, 0x1f, 3)], true)?);
        check!(
            matches!(second, Some(Isolation::SharesGroup { owner, .. }) if owner == first.index),
            "{second:?}"
        );
        drop(first);
        // Given back with its group: now another partition may have it.
        let again = build_with("beta", &[(0, 0x1f, 3)], true)?;
        check!(again.is_ok(), "{:?}", again.err());
        Ok(())
    }
}

ktest! {
    /// Devices are reset between owners (PCIe §6.6.2 FLR): QEMU's NVMe
    /// controller, whose MSI-X an owner enabled and whose first MSI-X table
    /// entry (in BAR0) it aimed at an interrupt, is assigned with MSI-X off
    /// and the entry cleared, its BAR where vsva put it and bus mastering
    /// off; what the owner then sets is gone again once the partition is
    /// dropped. edu has no reset: refused unless the manifest lists it in
    /// `devices_without_reset`.
    fn devices_are_reset_between_owners_and_unresettable_ones_need_the_manifest() {
        use super::assign::Isolation;
        use vsva_pci::ConfigAccess as _;
        use vsva_pci::msi::MsiXControl;
        /// An MSI-X message address (the local APIC's / a GIC doorbell's
        /// region is not written: the vector stays masked).
        const ADDRESS: u32 = 0xfee0_0000;
        let at = |vendor, device| {
            crate::pci::find(vendor, device)
                .map(|(s, f)| (s, f, f.function.bdf))
                .ok_or_else(|| fail!("{vendor:04x}:{device:04x} not found"))
        };
        let (_, _, edu) = at(0x1234, 0x11e8)?;
        let edu = (edu.bus(), edu.device(), edu.function());
        check_eq!(refused(build_with("alpha", &[edu], false)?), Some(Isolation::NoReset));
        let allowed = build_with("alpha", &[edu], true)?;
        check!(allowed.is_ok(), "edu with the opt-in: {:?}", allowed.err());
        drop(allowed);

        let (seg, f, bdf) = at(0x1b36, 0x0010)?;
        let cfg = &seg.access;
        let msix = vsva_pci::MsiX::find(cfg, bdf).ok_or_else(|| fail!("NVMe has no MSI-X"))?;
        let table = msix.table(cfg);
        let bar = f
            .function
            .bars
            .iter()
            .find(|b| b.index == table.bir)
            .ok_or_else(|| fail!("no BAR{} for the MSI-X table", table.bir))?;
        let regs = crate::arch::mmio::Mmio::map(bar.address, bar.size.max(0x1000))
            .map_err(|e| fail!("{e:?}"))?;
        let entry = table.offset as usize;
        let bar_register = cfg.read32(bdf, 0x10);
        // What an owner leaves: MSI-X on (all masked), an entry aimed.
        let leave = || {
            vsva_pci::enable(cfg, bdf, true, false, true);
            msix.set_enable(cfg, true, true);
            regs.write32(entry, ADDRESS);
            regs.write32(entry + 8, 0x41);
            (msix.control(cfg).contains(MsiXControl::MSIX_ENABLE), regs.read32(entry))
        };
        // What the next one finds (decoding on to look).
        let found = || {
            let command = cfg.read32(bdf, 0x04) & 0xffff;
            vsva_pci::enable(cfg, bdf, true, false, false);
            (
                msix.control(cfg).contains(MsiXControl::MSIX_ENABLE),
                regs.read32(entry),
                cfg.read32(bdf, 0x10),
                command & 0x4,
            )
        };
        let reset = (false, Some(0), bar_register, 0);
        check_eq!(leave(), (true, Some(ADDRESS)));
        let nvme = (bdf.bus(), bdf.device(), bdf.function());
        let owner = build_with("alpha", &[nvme], false)?.map_err(|e| fail!("NVMe: {e}"))?;
        check_eq!(found(), reset);
        check_eq!(leave(), (true, Some(ADDRESS)));
        drop(owner);
        check_eq!(found(), reset);
        Ok(())
    }
}

ktest! {
    /// Devices behind bridges (isolation groups): the edu alone behind a
    /// PCI Express Root Port is assigned, with the port's isolating ACS
    /// controls turned on (PCIe §6.12.1.1), and reset by a secondary bus
    /// reset (it has no FLR): the MSI enable an owner left is cleared. QEMU's
    /// test device behind a PCIe-to-PCI bridge is refused, as its requests
    /// may carry the bridge's requester ID.
    fn devices_behind_a_root_port_are_assigned_and_behind_a_pci_bridge_refused() {
        use super::assign::Isolation;
        use vsva_pci::group::{ISOLATING_ACS, PathIssue};
        use vsva_pci::msi::MsiControl;
        use vsva_pci::Bdf;
        let below = |vendor: u16, device: u16| {
            crate::pci::SEGMENTS
                .get()
                .into_iter()
                .flatten()
                .flat_map(|s| s.functions.iter().map(move |f| (s, f)))
                .find(|(_, f)| {
                    f.function.vendor_id == vendor
                        && f.function.device_id == device
                        && f.function.parent.is_some()
                })
                .map(|(s, f)| (s, f.function.bdf, f.function.parent))
                .ok_or_else(|| fail!("no {vendor:04x}:{device:04x} behind a bridge"))
        };
        let (seg, edu, port) = below(0x1234, 0x11e8)?;
        let port = port.ok_or_else(|| fail!("no port"))?;
        let cfg = &seg.access;
        let acs = vsva_pci::Acs::find(cfg, port).ok_or_else(|| fail!("the root port has no ACS"))?;
        let msi = vsva_pci::Msi::find(cfg, edu).ok_or_else(|| fail!("edu has no MSI"))?;
        msi.set_enable(cfg, true);
        check!(msi.control(cfg).contains(MsiControl::MSI_ENABLE), "MSI enable did not stick");
        let address = |b: Bdf| (b.bus(), b.device(), b.function());
        let owner = build_with("alpha", &[address(edu)], false)?
            .map_err(|e| fail!("edu behind {port}: {e}"))?;
        let wanted = acs.capability(cfg) & ISOLATING_ACS;
        check!(!wanted.is_empty(), "the root port implements no isolating ACS");
        check_eq!(acs.control(cfg) & ISOLATING_ACS, wanted);
        check!(!msi.control(cfg).contains(MsiControl::MSI_ENABLE), "the bus reset left MSI enabled");
        drop(owner);

        let (_, testdev, bridge) = below(0x1b36, 0x0005)?;
        let bridge = bridge.ok_or_else(|| fail!("no bridge"))?;
        check_eq!(
            refused(build_with("alpha", &[address(testdev)], true)?),
            Some(Isolation::Path(PathIssue::BehindPciBridge { bridge }))
        );
        Ok(())
    }
}
