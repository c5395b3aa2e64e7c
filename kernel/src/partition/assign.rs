//! Device assignment: a PCI function given to one partition, after the
//! checks that it can be isolated: its memory BARs mapped 1:1 into the
//! partition's stage 2, its DMA attached to the same stage 2 by the vSVA
//! service, bus mastering off until the guest turns it on.

use alloc::vec::Vec;
use core::fmt;

use vsva_pci::group::{self, PathIssue};
use vsva_pci::placement::{self, Misplaced};
use vsva_pci::reset::{ResetError, ResetMethod};
use vsva_pci::{BarKind, Bdf};
use vsva_sva::backend::DeviceInfo;
use vsva_sva::{HostDevice, SvaError};

use super::{Assigned, CreateError, Partition, bars, reset};
use crate::arch::vcpu::MapKind;
use crate::mem::PAGE_SIZE;
use crate::pci::{PciFunction, Segment};

/// The `partition` of a function no partition may have: its reset after
/// its last owner failed, so it may still hold what that owner left.
const QUARANTINED: usize = usize::MAX;

/// The PCI functions partitions own: (segment, function, partition index).
static OWNED: spin::Mutex<Vec<Owned>> = spin::Mutex::new(Vec::new());

/// A function a partition holds: assigned to it, or held with the function
/// of its group that was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owned {
    segment: u16,
    bdf: Bdf,
    partition: usize,
    /// The assigned function whose group brought it (itself if assigned).
    with: Bdf,
}

/// Why a function cannot be given to a partition alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// The bridges above it do not keep its DMA apart: a PCI(e)-to-PCI
    /// bridge (alias requester IDs) or a port without isolating ACS.
    Path(PathIssue),
    /// A partition's functions share one PCI segment (its window shows one).
    OtherSegment,
    /// A BAR shares a page with another function's BAR.
    SharesPage { bar: u8, with: Bdf },
    /// Another partition owns it.
    AlreadyAssigned { owner: usize },
    /// A bridge (host, ISA, PCI-to-PCI, root port): it routes other
    /// devices' traffic.
    Bridge,
    /// A function of the same device, which it can reach without the IOMMU
    /// (no isolating ACS), belongs to another partition.
    SharesGroup { with: Bdf, owner: usize },
    /// No IOMMU vsva drives translates it.
    NoIommu,
    /// Two functions would appear at the same slot of the window.
    SlotTaken,
    /// A BAR could not be mapped into the partition's stage 2.
    BarNotMapped { bar: u8 },
    /// A BAR lies where a guest must not reach: on RAM, registers, ECAM,
    /// outside the host bridge windows, or wrapping.
    BarMisplaced { bar: u8, why: Misplaced },
    /// A BAR no host bridge window had room for (its register is stale).
    BarUnplaced { bar: u8 },
    /// The function has no reset (no FLR, no PM reset) and the manifest does
    /// not let it go without one (`devices_without_reset`).
    NoReset,
    /// Its reset did not complete.
    ResetFailed(ResetMethod, ResetError),
    /// It, or a function of its group, could not be reset after its last
    /// owner: kept from every partition.
    Quarantined { function: Bdf },
    /// The IOMMU (the vSVA service) refused the attachment.
    Iommu(SvaError),
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(PathIssue::BehindPciBridge { bridge }) => write!(
                f,
                "it is behind {bridge}, a PCI(e)-to-PCI bridge whose devices' requests may carry the bridge's requester ID"
            ),
            Self::Path(PathIssue::NoAcs { port }) => write!(
                f,
                "{port}, a port above it, has no ACS to keep peer-to-peer requests from bypassing the IOMMU"
            ),
            Self::Path(PathIssue::SwitchInternal { port }) => write!(
                f,
                "it sits on the internal bus of the switch whose upstream port is {port}, beside its downstream ports"
            ),
            Self::Path(PathIssue::Loop) => write!(f, "the bridges above it loop"),
            Self::OtherSegment => write!(f, "a partition's functions must share one PCI segment"),
            Self::SharesPage { bar, with } => {
                write!(f, "BAR{bar} shares a page with a BAR of {with}")
            }
            Self::AlreadyAssigned { owner } => write!(f, "already assigned to partition {owner}"),
            Self::Bridge => write!(f, "it is a bridge, which routes other devices' traffic"),
            Self::SharesGroup { with, owner } => write!(
                f,
                "{with}, a function of the same device it can reach without the IOMMU (no ACS), belongs to partition {owner}"
            ),
            Self::NoIommu => write!(f, "no IOMMU vsva drives translates it"),
            Self::SlotTaken => write!(f, "another function has its slot in the window"),
            Self::BarNotMapped { bar } => write!(f, "BAR{bar} cannot be mapped at stage 2"),
            Self::BarMisplaced { bar, why } => match why {
                Misplaced::Wraps => write!(f, "BAR{bar} wraps past the top of the address space"),
                Misplaced::OutsideWindows => {
                    write!(f, "BAR{bar} is outside the host bridge windows")
                }
                Misplaced::Overlaps(what) => write!(f, "BAR{bar} overlaps {what}"),
            },
            Self::BarUnplaced { bar } => {
                write!(
                    f,
                    "BAR{bar} got no address (no room in the host bridge windows)"
                )
            }
            Self::NoReset => write!(
                f,
                "it has no reset (FLR, PM, or a bus reset of its own) and the manifest does not list it in devices_without_reset"
            ),
            Self::ResetFailed(method, e) => write!(f, "its reset ({method:?}) failed: {e:?}"),
            Self::Quarantined { function } => write!(
                f,
                "{function} was not reset after its last owner and is kept from every partition"
            ),
            Self::Iommu(e) => write!(f, "IOMMU: {e:?}"),
        }
    }
}

/// The memory BARs of a function that decode something.
fn memory_bars(func: &PciFunction) -> impl Iterator<Item = &vsva_pci::Bar> {
    func.function
        .bars
        .iter()
        .filter(|b| !matches!(b.kind, BarKind::Io) && b.address != 0 && b.size != 0)
}

/// Every BAR of `f` is mapped 1:1 for a guest: it must have an address and
/// lie where nothing else is (`vsva_pci::placement` over this machine's
/// ranges, `bars`).
pub(super) fn check_bars(f: &PciFunction) -> Result<(), Isolation> {
    if let Some(&bar) = f.unplaced.first() {
        return Err(Isolation::BarUnplaced { bar });
    }
    let Some(platform) = crate::platform::PLATFORM.get() else {
        return Ok(());
    };
    let (windows, forbidden) = (bars::windows(platform), bars::forbidden(platform));
    for bar in memory_bars(f) {
        let size = bar.size.max(PAGE_SIZE);
        placement::check(bar.address, size, PAGE_SIZE, &windows, &forbidden).map_err(|why| {
            Isolation::BarMisplaced {
                bar: bar.index,
                why,
            }
        })?;
    }
    Ok(())
}

/// The PASID, ATS and PRI capabilities of a function (PCIe §7.8.8, §10.5).
fn device_info(seg: &Segment, bdf: Bdf) -> DeviceInfo {
    use vsva_pci::pasid::{Pasid, PasidCapability};
    let access = &seg.access;
    let (pasid_bits, pasid_exec, pasid_priv) = match Pasid::find(access, bdf) {
        Some(p) => {
            let cap = p.capability(access);
            (
                p.max_pasid_width(access).min(20),
                cap.contains(PasidCapability::EXECUTE_PERMISSION_SUPPORTED),
                cap.contains(PasidCapability::PRIVILEGED_MODE_SUPPORTED),
            )
        }
        None => (0, false, false),
    };
    DeviceInfo {
        pasid_bits,
        pasid_exec,
        pasid_priv,
        pri: vsva_pci::pri::Pri::find(access, bdf).is_some(),
    }
}

/// Gives back the functions a partition claimed, but for `kept` (whose
/// reset failed), which no partition gets again.
pub(super) fn release_claims(claimed: &[(u16, Bdf)], kept: &[(u16, Bdf)]) {
    let mut owned = OWNED.lock();
    owned.retain(|o| !claimed.contains(&(o.segment, o.bdf)) || kept.contains(&(o.segment, o.bdf)));
    for o in owned.iter_mut() {
        if kept.contains(&(o.segment, o.bdf)) {
            o.partition = QUARANTINED;
        }
    }
}

impl Partition {
    /// Assigns a PCI function: its memory BARs mapped 1:1 into stage 2
    /// (device memory, no execution), its DMA attached to the same stage 2
    /// by the vSVA service, bus mastering off until the guest turns it on.
    pub(super) fn assign(
        &mut self,
        segment: u16,
        bdf: Bdf,
        may_skip_reset: bool,
    ) -> Result<(), CreateError> {
        let (seg, f) = crate::pci::find_bdf(segment, bdf)
            .ok_or(CreateError::UnknownDevice { segment, bdf })?;
        let isolate = |why| CreateError::DeviceNotIsolated { segment, bdf, why };
        // Behind bridges, DMA to a peer may be routed before it reaches the
        // IOMMU unless every port on the way enforces ACS, and a PCI bridge
        // gives its devices its own requester ID.
        let parent = |b: Bdf| {
            seg.functions
                .iter()
                .find(|o| o.function.bdf == b)
                .and_then(|o| o.function.parent)
        };
        group::check_path(&seg.access, bdf, parent).map_err(|p| isolate(Isolation::Path(p)))?;
        if self.devices.iter().any(|d| d.segment != segment) {
            return Err(isolate(Isolation::OtherSegment));
        }
        if !group::assignable(f.function.class, f.function.is_bridge()) {
            return Err(isolate(Isolation::Bridge));
        }
        // Its isolation group: the function alone where ACS redirects its
        // peer-to-peer traffic to the IOMMU (turned on here where it has
        // the controls), else every function of its device; and whatever
        // firmware gives its IOMMU ID.
        // Closed under both, as Linux builds IOMMU groups.
        let ids: Vec<_> = seg
            .functions
            .iter()
            .map(|o| (o.function.bdf, o.iommu.zip(o.stream_id)))
            .collect();
        let isolated = |b: Bdf| {
            group::enable_isolating_acs(&seg.access, b)
                .is_some_and(|on| on.contains(group::ISOLATING_ACS))
        };
        let members = group::closure(bdf, isolated, &ids);
        check_bars(f).map_err(isolate)?;
        // A BAR is mapped by whole pages: a page it shares with another
        // function's BAR would hand that function over too.
        for other in crate::pci::SEGMENTS
            .get()
            .into_iter()
            .flatten()
            .flat_map(|s| s.functions.iter())
            .filter(|o| !(o.function.segment == segment && o.function.bdf == bdf))
        {
            for mine in memory_bars(f) {
                let Some(a) = placement::pages(mine.address, mine.size, PAGE_SIZE) else {
                    return Err(isolate(Isolation::BarNotMapped { bar: mine.index }));
                };
                let shared = memory_bars(other).any(|theirs| {
                    placement::pages(theirs.address, theirs.size, PAGE_SIZE)
                        .is_none_or(|b| placement::overlap(&a, &b))
                });
                if shared {
                    return Err(isolate(Isolation::SharesPage {
                        bar: mine.index,
                        with: other.function.bdf,
                    }));
                }
            }
        }
        // One owner at a time, whoever builds partitions: the function and
        // the rest of its group, which no other partition may then take.
        {
            let mut owned = OWNED.lock();
            let other = |b: Bdf| {
                owned
                    .iter()
                    .find(|o| o.segment == segment && o.bdf == b && o.partition != self.index)
                    .copied()
            };
            if let Some(o) = members.iter().find_map(|&m| other(m))
                && o.partition == QUARANTINED
            {
                return Err(isolate(Isolation::Quarantined { function: o.bdf }));
            }
            match other(bdf) {
                Some(o) if o.with == bdf => {
                    return Err(isolate(Isolation::AlreadyAssigned { owner: o.partition }));
                }
                Some(o) => {
                    return Err(isolate(Isolation::SharesGroup {
                        with: o.with,
                        owner: o.partition,
                    }));
                }
                None => {}
            }
            // Held already as part of a group it assigned is fine; the same
            // function twice is not.
            if self
                .devices
                .iter()
                .any(|d| d.segment == segment && d.bdf == bdf)
            {
                return Err(isolate(Isolation::AlreadyAssigned { owner: self.index }));
            }
            if let Some(o) = members.iter().find_map(|&m| other(m)) {
                return Err(isolate(Isolation::SharesGroup {
                    with: o.bdf,
                    owner: o.partition,
                }));
            }
            for &m in &members {
                if !owned.iter().any(|o| o.segment == segment && o.bdf == m) {
                    owned.push(Owned {
                        segment,
                        bdf: m,
                        partition: self.index,
                        with: bdf,
                    });
                    self.claimed.push((segment, m));
                }
            }
        }
        // Nothing the last owner (or firmware) left in it reaches this one.
        let resets = reset::before_assign(seg, &members, may_skip_reset).map_err(isolate)?;
        let table = self
            .stage2
            .as_mut()
            .ok_or(CreateError::OutOfMemory("stage 2"))?;
        for bar in memory_bars(f) {
            // The BAR's PCI address is its CPU address on the machines here
            // (QEMU virt and q35 map their memory windows 1:1).
            let size = bar.size.max(PAGE_SIZE);
            table
                .map(bar.address, bar.address, size, MapKind::Device)
                .map_err(|_| isolate(Isolation::BarNotMapped { bar: bar.index }))?;
        }
        vsva_pci::enable(&seg.access, bdf, false, false, false);
        disable_rom(&seg.access, bdf);
        let (Some(unit), Some(rid)) = (f.iommu, f.stream_id) else {
            return Err(isolate(Isolation::NoIommu));
        };
        let device = HostDevice {
            unit,
            rid,
            virtual_id: u32::from(guest_requester_id(bdf)),
            info: device_info(seg, bdf),
        };
        self.iommus
            .lock()
            .assign(self.id(), device)
            .map_err(|e| isolate(Isolation::Iommu(e)))?;
        self.devices.push(Assigned {
            segment,
            bdf,
            resets,
        });
        Ok(())
    }
}

/// Turns the function's ROM decoding off: vsva does not map the ROM, and
/// the guest's window drops writes to it, so it stays off while assigned.
fn disable_rom(cfg: &dyn vsva_pci::ConfigAccess, bdf: Bdf) {
    let rom = cfg.read32(bdf, vsva_pci::header::offset::EXPANSION_ROM);
    if rom & 1 != 0 {
        cfg.write32(bdf, vsva_pci::header::offset::EXPANSION_ROM, rom & !1);
    }
}

/// The requester ID a partition's window shows for host function `bdf`:
/// bus 0, the same device and function (`vsva_pci::ConfigWindow`).
pub fn guest_requester_id(bdf: Bdf) -> u16 {
    (u16::from(bdf.device()) << 3) | u16::from(bdf.function())
}
