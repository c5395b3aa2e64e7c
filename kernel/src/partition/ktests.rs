//! In-kernel tests of partitions, with the reference guest and the test
//! manifest (`tests/partitions.toml`) xtask builds into the test image.

use alloc::vec::Vec;

use ktest::{Failure, check, check_eq, fail, ktest};

use super::{Partition, StopReason, run};
use crate::manifest;

/// The exit codes of the reference guest (guest/reference/src/guest.rs).
const INTERRUPT_BASE: u64 = 0x100;

/// Builds the manifest's partitions named `names`, in that order.
fn build(names: &[&str]) -> Result<Vec<Partition>, Failure> {
    crate::arch::vcpu::init().map_err(|e| fail!("vCPU support: {e:?}"))?;
    let specs = manifest::specs(manifest::blob()).map_err(|e| fail!("{e}"))?;
    let mut out = Vec::new();
    for name in names {
        let (index, spec) = specs
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == *name)
            .ok_or_else(|| fail!("the test manifest has no partition '{name}'"))?;
        out.push(Partition::create(index, spec).map_err(|e| fail!("'{name}': {e}"))?);
    }
    Ok(out)
}

fn stopped(p: &Partition) -> Result<&StopReason, Failure> {
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
        check_eq!(stopped(&ps[0])?, &StopReason::TimeLimit);
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
    /// Hypercalls with hostile arguments (addresses outside the caller,
    /// wrapping, too long, unknown numbers) fail with typed errors.
    fn hostile_hypercall_arguments_are_refused() {
        let mut ps = build(&["hostile"])?;
        run(&mut ps, 5_000, |_| {});
        check_eq!(stopped(&ps[0])?, &StopReason::Exited(0));
        check!(ps[0].console().contains("bad calls refused"));
        Ok(())
    }
}
