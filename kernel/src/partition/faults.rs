//! DMA faults and page requests routed to the partition that owns the
//! requester: after every slice the vSVA service drains each unit's fault
//! records, events and page requests (a unit with a single fault register,
//! QEMU's VT-d, is then free for the next one) and names the owner of each;
//! vsva logs the faults and keeps them for [`Partition::dma_faults`], and
//! the service writes every partition's events into the ring it registered,
//! raising the interrupt it chose on its first vCPU.

use alloc::vec::Vec;
use log::warn;

use vsva_sva::RoutedFault;
use vsva_sva::backend::{FaultReason, UnitFault};

use super::Partition;
use super::memory::RamAccess;
use crate::arch::time::uptime_nanos;

/// A DMA an IOMMU blocked for one of a partition's devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The requester as the IOMMU saw it (StreamID / source ID).
    pub requester: u32,
    /// The device as the partition names it (its window's requester ID).
    pub device: u32,
    pub pasid: Option<u32>,
    /// The address the device used (an IPA / guest-physical or guest-
    /// virtual address; page granular on VT-d).
    pub address: u64,
    pub write: bool,
    pub reason: FaultReason,
    /// The IOMMU's own code: VT-d fault reason, SMMUv3 event type.
    pub code: u8,
}

/// Most DMA faults kept per partition.
const DMA_FAULTS_KEPT: usize = 64;

/// Drains the units, hands each fault to its partition and delivers every
/// running partition's events.
pub(super) fn collect(partitions: &mut [Partition]) {
    let Some(iommus) = partitions.first().map(|p| p.iommus) else {
        return;
    };
    let now = uptime_nanos();
    let faults = {
        let mut service = iommus.lock();
        // Drains the units and answers the requests that waited too long.
        service.poll(now);
        let mut wrote = false;
        for p in partitions.iter_mut().filter(|p| p.stopped.is_none()) {
            let delivered = service.deliver(p.id(), &mut RamAccess(p.ram), now);
            wrote |= delivered.written != 0;
            if let Some(intid) = delivered.interrupt
                && !p.inject(0, intid)
            {
                warn!(
                    "partition '{}': event interrupt {intid} not delivered",
                    p.name
                );
            }
        }
        let took = uptime_nanos() - now;
        super::bench::event_poll(took, wrote, service.faults_pending());
        service.take_faults()
    };
    // QEMU splits a DMA into 4-byte accesses, each with its own record:
    // log one line per requester and page.
    let mut last_logged = None;
    for routed in faults {
        let f = routed.fault;
        let (Some(owner), Some(device)) = (routed.partition, routed.device) else {
            warn!(
                "DMA blocked for requester {:#x} of IOMMU {} (no partition's) at {:#x}: {}",
                f.requester,
                routed.unit,
                f.address,
                f.reason.name()
            );
            continue;
        };
        let Some(p) = partitions.iter_mut().find(|p| p.id() == owner) else {
            continue;
        };
        record(p, device, &f, &mut last_logged);
    }
}

/// Faults of `p` the service handed over while releasing it.
pub(super) fn keep(p: &mut Partition, faults: Vec<RoutedFault>) {
    let mut last_logged = None;
    for routed in faults {
        if let Some(device) = routed.device {
            record(p, device, &routed.fault, &mut last_logged);
        }
    }
}

/// Keeps one fault of `p` and logs it (once per requester and page).
fn record(p: &mut Partition, device: u32, f: &UnitFault, last_logged: &mut Option<(u32, u64)>) {
    let fault = DmaFault {
        requester: f.requester,
        device,
        pasid: f.pasid,
        address: f.address,
        write: f.write,
        reason: f.reason,
        code: f.code,
    };
    if p.dma_faults.len() < DMA_FAULTS_KEPT {
        p.dma_faults.push(fault);
    }
    let key = (f.requester, f.address & !0xfff);
    if *last_logged != Some(key) && p.log_budget.take_fault() {
        *last_logged = Some(key);
        warn!(
            "partition '{}': DMA blocked: {} by requester {:#x}{} at {:#x} ({}, code {:#x})",
            p.name,
            if f.write { "write" } else { "read" },
            f.requester,
            f.pasid
                .map_or_else(alloc::string::String::new, |p| alloc::format!(" PASID {p}")),
            f.address,
            f.reason.name(),
            f.code
        );
    }
}
