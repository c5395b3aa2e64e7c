//! Running partitions: vCPUs time-shared round robin with a preemption
//! timer, exits dispatched (hypercalls, firmware calls, MMIO, faults), a
//! stopped partition reported and released.

use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;

use log::{info, warn};

use super::{Partition, StopReason, VcpuState, hypercall};
use crate::arch::time::uptime_nanos;
use crate::arch::vcpu::{self, Exit, VirtCaps};

/// A time slice.
const SLICE_MS: u64 = 10;

/// Why a vCPU could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    /// No such vCPU, or the entry point is outside the partition's RAM.
    Invalid,
    AlreadyOn,
}

impl Partition {
    /// Starts stopped vCPU `index` at guest-physical `entry` with `arg` as
    /// its first argument, in the state vCPU 0 started in.
    pub fn start_vcpu(&mut self, index: u64, entry: u64, arg: u64) -> Result<(), StartError> {
        if !self.ram.contains(entry, 4) {
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

    /// Stops the partition (once), logs why, and releases what the IOMMUs
    /// hold for it: its devices are blocked and its bindings gone before
    /// anything else runs.
    pub(super) fn stop(&mut self, reason: StopReason) {
        if self.stopped.is_none() {
            self.flush_line();
            match &reason {
                StopReason::Exited(0) | StopReason::PoweredOff => {
                    info!("partition '{}' {reason}", self.name)
                }
                _ => warn!("partition '{}' stopped: {reason}", self.name),
            }
            self.stopped = Some(reason);
            self.release();
        }
    }

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
        if let Some(dropped) = self.log_budget.refill() {
            warn!(
                "partition '{}': over its log budget, {} console bytes and {} DMA fault lines were not logged",
                self.name, dropped.bytes, dropped.faults
            );
        }
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
                } => self.stage_fault(i, ipa, va, write, reason),
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

    /// Where the vCPUs are, for a report.
    fn describe_vcpus(&self) -> alloc::string::String {
        self.vcpus
            .iter()
            .enumerate()
            .map(|(i, s)| format!("vCPU {i} {:?}: {}", s.state, s.vcpu.describe()))
            .collect::<Vec<_>>()
            .join("; ")
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
                let state = p.describe_vcpus();
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
                super::faults::collect(partitions);
            }
            // Everyone waits for an interrupt: idle until a timer could have
            // fired (bounded by the limit).
            None => core::hint::spin_loop(),
        }
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
    let iommus = crate::iommu::iommus();
    let mut partitions = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match Partition::create(i, spec, iommus) {
            Ok(p) => partitions.push(p),
            Err(e) => warn!("partition '{}' not started: {e}", spec.name),
        }
    }
    if !partitions.is_empty() {
        super::bench::first_guest(uptime_nanos());
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
