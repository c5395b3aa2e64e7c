//! The batched invalidation call: the caller's entries read a page's worth
//! at a time, each checked against what the caller owns and has bound, turned into
//! unit operations and carried out in order, consecutive entries for one
//! unit in one batch (one wait per batch, not per entry). Entry k refused:
//! entries 0..k took effect and were waited for, k is reported.

use alloc::vec::Vec;

use vsva_abi::HvError;
use vsva_abi::sva::{
    EntryFlags, Invalidate, InvalidateEntry, InvalidateKind, MAX_INVALIDATIONS, MAX_STRUCT_SIZE,
    SvaStruct,
};

use crate::PartitionId;
use crate::backend::{Backend, Stage2Tables, UnitInvalidation};
use crate::calls::Caller;
use crate::calls::hv;
use crate::guest::GuestMemory;
use crate::pasid::{PASID_BITS, PasidSpace};
use crate::service::{Partition, Sva, WALK_LIMIT_PER_CALL, env};
use crate::shadow::WalkLimit;

/// A checked entry: the unit it is for and what to do (`None`: nothing,
/// a device-TLB invalidation: vsva enables ATS on no device).
struct Checked {
    unit: usize,
    op: Option<UnitInvalidation>,
}

/// Checks one entry against the partition.
fn check(
    e: &InvalidateEntry,
    partition: &Partition,
    pasids: &PasidSpace,
    id: PartitionId,
    asid_bits: impl Fn(usize) -> u8,
) -> Result<Checked, HvError> {
    let kind = InvalidateKind::from_raw(e.kind).ok_or(HvError::BadArgument)?;
    let flags = EntryFlags::from_bits(e.flags).ok_or(HvError::BadArgument)?;
    if e.reserved != 0 {
        return Err(HvError::BadArgument);
    }
    let device = partition
        .device(e.device)
        .map(|i| &partition.devices[i])
        .ok_or(HvError::NotFound)?;
    let rid = device.host.rid;
    let unit = device.host.unit;
    // The PASID: a SubstreamID of the guest's own CD table, or one of the
    // caller's PASIDs with a table bound.
    let pasid = match (flags.contains(EntryFlags::PASID), device.cd_table) {
        (false, _) if e.pasid != 0 => return Err(HvError::BadArgument),
        (false, _) => None,
        (true, Some(cd_max)) => {
            if u64::from(e.pasid) >> cd_max != 0 {
                return Err(HvError::BadArgument);
            }
            Some(e.pasid)
        }
        (true, None) => {
            if u64::from(e.pasid) >> PASID_BITS != 0 {
                return Err(HvError::BadArgument);
            }
            if !pasids.holds(id, e.pasid) {
                return Err(HvError::NotFound);
            }
            Some(e.pasid)
        }
    };
    let tlb = matches!(kind, InvalidateKind::IotlbRange | InvalidateKind::IotlbAll);
    let asid = if flags.contains(EntryFlags::ASID) {
        if !tlb || device.cd_table.is_none() || u64::from(e.asid) >> asid_bits(unit) != 0 {
            return Err(HvError::BadArgument);
        }
        Some(e.asid)
    } else if e.asid != 0 {
        return Err(HvError::BadArgument);
    } else {
        None
    };
    // What the range may span: the bound table's input, or a CD table's
    // whole VMSAv8 input range.
    let input_bits = match device.cd_table {
        Some(_) => 48,
        None => match kind {
            InvalidateKind::PasidCacheAll if device.stage1.is_empty() => {
                return Err(HvError::NotFound);
            }
            InvalidateKind::PasidCacheAll => 0,
            _ => {
                device
                    .stage1
                    .get(&pasid)
                    .ok_or(HvError::NotFound)?
                    .input_bits
            }
        },
    };
    let ranged = matches!(kind, InvalidateKind::IotlbRange | InvalidateKind::DeviceTlb);
    if ranged {
        let end = e.address.checked_add(e.size).ok_or(HvError::BadArgument)?;
        if !e.address.is_multiple_of(4096)
            || e.size == 0
            || !e.size.is_multiple_of(4096)
            || end > 1u64 << input_bits
        {
            return Err(HvError::BadArgument);
        }
    } else if e.address != 0 || e.size != 0 {
        return Err(HvError::BadArgument);
    }
    let leaf = flags.contains(EntryFlags::LEAF);
    if leaf && kind != InvalidateKind::IotlbRange {
        return Err(HvError::BadArgument);
    }
    let op = match kind {
        InvalidateKind::IotlbRange => Some(UnitInvalidation::IotlbRange {
            rid,
            pasid,
            asid,
            start: e.address,
            len: e.size,
            leaf,
        }),
        InvalidateKind::IotlbAll => Some(UnitInvalidation::IotlbAll { rid, pasid, asid }),
        InvalidateKind::PasidCache => Some(UnitInvalidation::PasidCache { rid, pasid }),
        InvalidateKind::PasidCacheAll => Some(UnitInvalidation::PasidCacheAll { rid }),
        InvalidateKind::DeviceTlb => None,
    };
    Ok(Checked { unit, op })
}

pub(crate) fn invalidate<U: Backend>(
    c: &mut Caller<'_, U>,
    mut args: Invalidate,
) -> Result<u64, HvError> {
    if args.count == 0 && args.flags == 0 {
        // A probe of the entry format: the entry size vsva knows.
        return Ok(InvalidateEntry::SIZE as u64);
    }
    let (done, result) = run(c.sva, c.id, &args, &*c.guest, &mut *c.stage2);
    args.count = done;
    c.reply(&args)?;
    result.map(|()| u64::from(done))
}

/// A run of checked operations for one unit, with the entry each came from.
#[derive(Default)]
struct Batch {
    unit: Option<usize>,
    ops: Vec<UnitInvalidation>,
    entries: Vec<u32>,
}

/// Carries out `batch` on its unit and empties it; on an error, the index
/// of the entry whose operation failed (those before it took effect).
fn flush<U: Backend>(
    batch: &mut Batch,
    units: &mut [Option<U>],
    partition: &mut Partition,
    guest: &dyn GuestMemory,
    stage2: &mut dyn Stage2Tables,
    walk: &mut WalkLimit,
) -> Result<(), (u32, HvError)> {
    let (Some(unit), Some(&first)) = (batch.unit, batch.entries.first()) else {
        return Ok(());
    };
    let Some(backend) = units.get_mut(unit).and_then(Option::as_mut) else {
        return Err((first, HvError::NotFound));
    };
    let domain = partition.domain;
    let mut env = env(guest, stage2, &mut partition.budget, walk);
    let result = backend.invalidate(&batch.ops, &domain, &mut env);
    let failed = result.map_err(|(n, e)| (batch.entries.get(n).copied().unwrap_or(first), hv(e)));
    batch.ops.clear();
    batch.entries.clear();
    failed
}

/// Handles the batch; how many entries completed, and the outcome.
fn run<U: Backend>(
    sva: &mut Sva<U>,
    id: PartitionId,
    args: &Invalidate,
    guest: &dyn GuestMemory,
    stage2: &mut dyn Stage2Tables,
) -> (u32, Result<(), HvError>) {
    if args.flags != 0
        || (args.entry_size as usize) < InvalidateEntry::MIN_SIZE
        || args.count > MAX_INVALIDATIONS
    {
        return (0, Err(HvError::BadArgument));
    }
    if args.entry_size > MAX_STRUCT_SIZE {
        return (0, Err(HvError::TooBig));
    }
    let array = u64::from(args.entry_size) * u64::from(args.count);
    let in_ram = sva
        .partitions
        .get(&id)
        .is_some_and(|p| p.domain.ram.contains(args.entries, array));
    if !in_ram {
        return (0, Err(HvError::BadArgument));
    }
    let Some((units, pasids, partition)) = sva.parts(id) else {
        return (0, Err(HvError::NotFound));
    };
    // ASID widths of the units the partition's devices are on.
    let asid_bits: Vec<(usize, u8)> = partition
        .devices
        .iter()
        .filter_map(|d| {
            let unit = units.get(d.host.unit).and_then(Option::as_ref)?;
            let bits = unit.limits(&d.host.info, &partition.domain).asid_bits;
            Some((d.host.unit, bits))
        })
        .collect();
    let asid_bits = |unit: usize| {
        asid_bits
            .iter()
            .find(|(u, _)| *u == unit)
            .map_or(0, |&(_, b)| b)
    };
    let mut batch = Batch::default();
    batch.ops.reserve(args.count as usize);
    batch.entries.reserve(args.count as usize);
    // One walk limit for the whole call, however many entries re-sync.
    let mut walk = WalkLimit(WALK_LIMIT_PER_CALL);
    // The entries are read a page's worth at a time (each byte once), then
    // each copy is checked.
    let size = args.entry_size as usize;
    let per_read = ((MAX_STRUCT_SIZE as usize / size).max(1) as u32).min(args.count);
    let mut entries = alloc::vec![0u8; per_read as usize * size];
    let mut loaded = 0..0;
    for k in 0..args.count {
        let read = if loaded.contains(&k) {
            Ok(())
        } else {
            let n = per_read.min(args.count - k);
            let at = args.entries + u64::from(k) * u64::from(args.entry_size);
            loaded = k..k + n;
            guest.read(at, &mut entries[..n as usize * size])
        };
        let offset = (k - loaded.start) as usize * size;
        let entry = &entries[offset..offset + size];
        let checked = read.map_err(|_| HvError::BadArgument).and_then(|()| {
            if entry[InvalidateEntry::SIZE..].iter().any(|&b| b != 0) {
                return Err(HvError::TooBig);
            }
            let e = InvalidateEntry::decode(&entry[..InvalidateEntry::SIZE]);
            check(&e, partition, pasids, id, asid_bits)
        });
        let checked = match checked {
            Ok(c) => c,
            Err(e) => {
                return match flush(&mut batch, units, partition, guest, stage2, &mut walk) {
                    Ok(()) => (k, Err(e)),
                    Err((n, f)) => (n, Err(f)),
                };
            }
        };
        if batch.unit != Some(checked.unit) {
            if let Err((n, f)) = flush(&mut batch, units, partition, guest, stage2, &mut walk) {
                return (n, Err(f));
            }
            batch.unit = Some(checked.unit);
        }
        if let Some(op) = checked.op {
            batch.ops.push(op);
            batch.entries.push(k);
        }
    }
    match flush(&mut batch, units, partition, guest, stage2, &mut walk) {
        Ok(()) => (args.count, Ok(())),
        Err((n, f)) => (n, Err(f)),
    }
}
