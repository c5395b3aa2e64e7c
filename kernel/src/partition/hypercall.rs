//! Hypercall dispatch: a table of numbered calls ([`vsva_abi::Call`]), each
//! with its handler taking typed arguments and returning a value or a typed
//! [`HvError`]; and the firmware calls (PSCI, Arm DEN 0022) a guest makes by
//! SMC or HVC.

use vsva_abi::{CONSOLE_MAX, Call, HvError, VERSION};

use crate::psci;

use super::{Partition, StartError, StopReason, VcpuState};

/// What the run loop does after a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Go on running the caller.
    Continue,
    /// End the caller's time slice.
    Yield,
}

/// A handler's outcome.
enum Done {
    Value(u64),
    Yield,
    /// The partition stopped (Exit): no result to deliver.
    Stopped,
}

type Handler = fn(&mut Partition, usize, &[u64; 6]) -> Result<Done, HvError>;

/// The calls, by number (the vSVA calls, [`Call::is_sva`], go to `super::sva`).
const TABLE: [(Call, Handler); 5] = [
    (Call::Version, version),
    (Call::ConsoleWrite, console_write),
    (Call::Exit, exit),
    (Call::Yield, yield_now),
    (Call::VcpuStart, vcpu_start),
];

/// Serves a call from vCPU `vcpu`: sets x0/x1 (rax/rdx) from the handler's
/// result. An ID in the PSCI range is served as a firmware call (guests may
/// use HVC as their PSCI conduit).
pub fn dispatch(p: &mut Partition, vcpu: usize, function: u64, args: &[u64; 6]) -> Next {
    if psci::is_psci(function) {
        firmware(p, vcpu, function, args);
        return Next::Continue;
    }
    let call = Call::from_function_id(function);
    let handler = call
        .and_then(|call| TABLE.iter().find(|(c, _)| *c == call))
        .map(|(_, h)| *h);
    let result = match (handler, call) {
        (Some(h), _) => h(p, vcpu, args),
        // The vSVA calls: one row each, served by the service.
        (None, Some(call)) if call.is_sva() => super::sva::call(p, call, args).map(Done::Value),
        _ => Err(HvError::UnknownCall),
    };
    let slot = &mut p.vcpus[vcpu].vcpu;
    match result {
        Ok(Done::Value(v)) => {
            slot.set_call_result(0, v);
            Next::Continue
        }
        Ok(Done::Yield) => {
            slot.set_call_result(0, 0);
            Next::Yield
        }
        Ok(Done::Stopped) => Next::Yield,
        Err(e) => {
            slot.set_call_result(e.status(), 0);
            Next::Continue
        }
    }
}

fn version(_: &mut Partition, _: usize, _: &[u64; 6]) -> Result<Done, HvError> {
    Ok(Done::Value(VERSION))
}

/// `(gpa, len)`: the text must be inside the caller's RAM and UTF-8.
fn console_write(p: &mut Partition, _: usize, args: &[u64; 6]) -> Result<Done, HvError> {
    let (gpa, len) = (args[0], args[1]);
    if len > CONSOLE_MAX {
        return Err(HvError::BadArgument);
    }
    let mut buf = [0u8; CONSOLE_MAX as usize];
    let buf = &mut buf[..len as usize];
    if !p.read_guest(gpa, buf) {
        return Err(HvError::BadArgument);
    }
    let text = core::str::from_utf8(buf).map_err(|_| HvError::BadArgument)?;
    p.console_write(text);
    Ok(Done::Value(len))
}

fn exit(p: &mut Partition, _: usize, args: &[u64; 6]) -> Result<Done, HvError> {
    p.stop(StopReason::Exited(args[0]));
    Ok(Done::Stopped)
}

fn yield_now(_: &mut Partition, _: usize, _: &[u64; 6]) -> Result<Done, HvError> {
    Ok(Done::Yield)
}

/// `(vcpu, entry, arg)`.
fn vcpu_start(p: &mut Partition, _: usize, args: &[u64; 6]) -> Result<Done, HvError> {
    match p.start_vcpu(args[0], args[1], args[2]) {
        Ok(()) => Ok(Done::Value(0)),
        Err(StartError::AlreadyOn) => Err(HvError::NotPermitted),
        Err(StartError::Invalid) => Err(HvError::BadArgument),
    }
}

/// Serves a firmware call: PSCI, which vsva implements for its guests
/// (one power domain per vCPU); anything else is NOT_SUPPORTED.
pub fn firmware(p: &mut Partition, vcpu: usize, function: u64, args: &[u64; 6]) {
    let status: i64 = match function {
        psci::VERSION => psci::V1_1 as i64,
        psci::MIGRATE_INFO_TYPE => psci::NO_TRUSTED_OS as i64,
        psci::FEATURES => match args[0] {
            psci::VERSION
            | psci::CPU_OFF
            | psci::CPU_ON_64
            | psci::AFFINITY_INFO_64
            | psci::MIGRATE_INFO_TYPE
            | psci::SYSTEM_OFF
            | psci::SYSTEM_RESET
            | psci::FEATURES => psci::SUCCESS,
            _ => psci::NOT_SUPPORTED,
        },
        psci::SYSTEM_OFF | psci::SYSTEM_RESET => {
            p.stop(StopReason::PoweredOff);
            return;
        }
        psci::CPU_OFF => {
            // The run loop leaves an Off vCPU at once and never enters it
            // again (until CPU_ON restarts it from scratch).
            p.vcpus[vcpu].state = VcpuState::Off;
            if p.vcpus.iter().all(|s| s.state == VcpuState::Off) {
                p.stop(StopReason::PoweredOff);
            }
            return;
        }
        psci::CPU_ON_64 => cpu_on(p, args),
        psci::AFFINITY_INFO_64 => psci::affinity_info(args[0], args[1], p.vcpus.len(), |i| {
            p.vcpus[i].state == VcpuState::Off
        }),
        _ => psci::NOT_SUPPORTED,
    };
    p.vcpus[vcpu].vcpu.set_results([status as u64, 0, 0, 0]);
}

/// CPU_ON(target MPIDR, entry, context): starts a secondary vCPU at `entry`
/// with x0 = `context`, if the entry is in the partition's RAM.
fn cpu_on(p: &mut Partition, args: &[u64; 6]) -> i64 {
    let Some(index) = psci::target(args[0], p.vcpus.len()) else {
        return psci::INVALID_PARAMETERS;
    };
    match p.start_vcpu(index as u64, args[1], args[2]) {
        Ok(()) => psci::SUCCESS,
        Err(StartError::AlreadyOn) => psci::ALREADY_ON,
        Err(StartError::Invalid) => psci::INVALID_PARAMETERS,
    }
}
