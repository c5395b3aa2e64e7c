//! The vSVA hypercalls' glue: each call goes to the service with the
//! caller's RAM and its stage 2 (for the table window), and its result or
//! error comes back as the call's.

use vsva_abi::{Call, HvError};
use vsva_sva::backend::NoStage2Tables;

use super::Partition;
use super::memory::{RamAccess, WindowTables};

/// Serves vSVA call `call` for partition `p`: `args[0]` is the
/// guest-physical address of its struct.
pub(super) fn call(p: &mut Partition, call: Call, args: &[u64; 6]) -> Result<u64, HvError> {
    let id = p.id();
    let mut guest = RamAccess(p.ram);
    let mut service = p.iommus.lock();
    match p.stage2.as_mut() {
        Some(stage2) => service.call(id, call, args[0], &mut guest, &mut WindowTables(stage2)),
        None => service.call(id, call, args[0], &mut guest, &mut NoStage2Tables),
    }
}
