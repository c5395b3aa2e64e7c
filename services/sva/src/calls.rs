//! One function per vSVA call: read the caller's struct (once), check every
//! field against what the caller owns and what the unit allows, act, write
//! the result back. The error of each check is the ABI's (abi/README.md).

use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, CdTableConfig, CdTableFlags, CdTableFormat as CdFormat,
    DefaultSubstream, EventQueue, Invalidate, IommuKind, MAX_INVALIDATIONS, PageResponse, Pasid,
    ResponseCode, Stage1Format, SvaCaps, SvaInfo, SvaStruct, UnbindCdTable, UnbindStage1,
};
use vsva_abi::{Call, HvError};
use vsva_iommu::smmuv3::structs::{CdTableFormat, DefaultSubstream as Dss, TableWalk};

use crate::PartitionId;
use crate::backend::{Backend, BackendError, CdConfig, GuestCdTable, Stage1, Stage2Tables};
use crate::guest::{Args, GuestMemory, read_args, write_result};
use crate::pasid::{PASID_BITS, PasidError};
use crate::service::{Bound, Partition, Sva, WALK_LIMIT_PER_CALL, env};
use crate::shadow::WalkLimit;

/// What a backend's error tells the caller.
pub(crate) fn hv(e: BackendError) -> HvError {
    match e {
        BackendError::Unsupported(_) => HvError::Unsupported,
        BackendError::NoResources(_) | BackendError::Shadow(_) => HvError::NoResources,
        BackendError::Iommu(_) => HvError::IommuError,
    }
}

/// Who is calling, with what memory, and where its struct is.
pub(crate) struct Caller<'a, U> {
    pub sva: &'a mut Sva<U>,
    pub id: PartitionId,
    pub guest: &'a mut dyn GuestMemory,
    pub stage2: &'a mut dyn Stage2Tables,
    /// The struct's guest-physical address and the caller's size of it.
    pub at: u64,
    pub size: u32,
}

impl<U> Caller<'_, U> {
    /// Writes `value` back to the caller's struct, truncated to its size.
    pub fn reply<T: SvaStruct>(&mut self, value: &T) -> Result<(), HvError> {
        write_result(self.guest, self.at, self.size, value)
    }
}

/// One call: its struct read (a probe answered with the size vsva knows)
/// and handed to `handle`.
fn serve<T: SvaStruct, U: Backend>(
    caller: &mut Caller<'_, U>,
    handle: fn(&mut Caller<'_, U>, T) -> Result<u64, HvError>,
) -> Result<u64, HvError> {
    match read_args::<T>(caller.guest, caller.at)? {
        Args::Probe => Ok(T::SIZE as u64),
        Args::Struct { value, size } => {
            caller.size = size;
            handle(caller, value)
        }
    }
}

pub(crate) fn dispatch<U: Backend>(
    sva: &mut Sva<U>,
    id: PartitionId,
    call: Call,
    gpa: u64,
    guest: &mut dyn GuestMemory,
    stage2: &mut dyn Stage2Tables,
) -> Result<u64, HvError> {
    let mut caller = Caller {
        sva,
        id,
        guest,
        stage2,
        at: gpa,
        size: 0,
    };
    let c = &mut caller;
    match call {
        Call::SvaInfo => serve::<SvaInfo, U>(c, info),
        Call::PasidAlloc => serve::<Pasid, U>(c, pasid_alloc),
        Call::PasidFree => serve::<Pasid, U>(c, pasid_free),
        Call::BindStage1 => serve::<BindStage1, U>(c, bind_stage1),
        Call::UnbindStage1 => serve::<UnbindStage1, U>(c, unbind_stage1),
        Call::BindCdTable => serve::<BindCdTable, U>(c, bind_cd_table),
        Call::UnbindCdTable => serve::<UnbindCdTable, U>(c, unbind_cd_table),
        Call::Invalidate => serve::<Invalidate, U>(c, crate::invalidate::invalidate),
        Call::EventQueue => serve::<EventQueue, U>(c, crate::events::calls::event_queue),
        Call::PageResponse => serve::<PageResponse, U>(c, crate::events::calls::page_response),
        _ => Err(HvError::UnknownCall),
    }
}

fn info<U: Backend>(c: &mut Caller<'_, U>, mut args: SvaInfo) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    let namespace = sva.pasids.bits();
    let (units, _, partition) = sva.parts(id).ok_or(HvError::NotFound)?;
    let index = partition.device(args.device).ok_or(HvError::NotFound)?;
    let device = &partition.devices[index];
    let unit = units
        .get(device.host.unit)
        .and_then(Option::as_ref)
        .ok_or(HvError::NotFound)?;
    let limits = unit.limits(&device.host.info, &partition.domain);
    let info = device.host.info;
    args.iommu = unit.kind() as u32;
    args.max_invalidations = MAX_INVALIDATIONS;
    match limits.install {
        Some(install) => {
            let pasid_bits = limits.pasid_bits.min(namespace);
            let mut caps = limits.caps;
            caps.set(SvaCaps::BIND_PASID, pasid_bits > 0);
            caps.set(SvaCaps::PASID_EXEC, pasid_bits > 0 && info.pasid_exec);
            caps.set(SvaCaps::PASID_PRIV, pasid_bits > 0 && info.pasid_priv);
            // Page requests reach no guest yet: PRI is not offered.
            args.install = install as u32;
            args.caps = caps.bits();
            args.formats = limits.formats.bits();
            args.pasid_bits = pasid_bits;
            args.cd_max = limits.cd_max;
            args.input_bits = limits.input_bits;
            args.output_bits = limits.output_bits;
            args.asid_bits = limits.asid_bits;
        }
        None => {
            args.install = 0;
            args.caps = 0;
            args.formats = 0;
            args.pasid_bits = 0;
            args.cd_max = 0;
            args.input_bits = 0;
            args.output_bits = 0;
            args.asid_bits = 0;
        }
    }
    c.reply(&args)?;
    Ok(0)
}

fn pasid_alloc<U: Backend>(c: &mut Caller<'_, U>, mut args: Pasid) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    if args.flags != 0 || args.reserved != 0 {
        return Err(HvError::BadArgument);
    }
    if !sva.partitions.contains_key(&id) {
        return Err(HvError::NoResources);
    }
    let pasid = sva.pasids.alloc(id).map_err(|_| HvError::NoResources)?;
    args.pasid = pasid;
    if let Err(e) = c.reply(&args) {
        // The caller cannot learn it: it must not hold it.
        let _ = c.sva.pasids.free(id, pasid);
        return Err(e);
    }
    Ok(0)
}

fn pasid_free<U: Backend>(c: &mut Caller<'_, U>, args: Pasid) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    if args.flags != 0 || args.reserved != 0 {
        return Err(HvError::BadArgument);
    }
    if !sva.pasids.holds(id, args.pasid) {
        return Err(HvError::NotFound);
    }
    let bound = sva.partitions.get(&id).is_some_and(|p| {
        p.devices
            .iter()
            .any(|d| d.stage1.contains_key(&Some(args.pasid)))
    });
    if bound {
        return Err(HvError::Busy);
    }
    let pasid = Some(args.pasid);
    sva.answer_where(id, |o| o.request.pasid == pasid, ResponseCode::Invalid);
    match sva.pasids.free(id, args.pasid) {
        Ok(()) => Ok(0),
        Err(PasidError::NotHeld) => Err(HvError::NotFound),
        Err(_) => Err(HvError::BadArgument),
    }
}

/// The PASID a bind / unbind names: `Ok(None)` without the flag; checked
/// against what the caller holds.
fn named_pasid<U>(
    sva: &Sva<U>,
    id: PartitionId,
    flags: BindFlags,
    pasid: u32,
) -> Result<Option<u32>, HvError> {
    if !flags.contains(BindFlags::PASID) {
        return if pasid == 0 {
            Ok(None)
        } else {
            Err(HvError::BadArgument)
        };
    }
    if u64::from(pasid) >> PASID_BITS != 0 {
        return Err(HvError::BadArgument);
    }
    if !sva.pasids.holds(id, pasid) {
        return Err(HvError::NotFound);
    }
    Ok(Some(pasid))
}

/// Table-walk attributes from a `walk` field (IRGN 1:0, ORGN 3:2, SH 5:4);
/// SH 0b01 is reserved (Arm ARM, TCR_EL1.SH0).
fn walk_attributes(walk: u32) -> Result<TableWalk, HvError> {
    if walk >> 6 != 0 || (walk >> 4) & 3 == 0b01 {
        return Err(HvError::BadArgument);
    }
    Ok(TableWalk {
        inner: (walk & 3) as u8,
        outer: ((walk >> 2) & 3) as u8,
        shareability: ((walk >> 4) & 3) as u8,
    })
}

/// Bytes of a VMSAv8-64 start-level table for `input_bits` with granule
/// `2^granule_bits` (Arm ARM D8.2: each level resolves granule bits - 3),
/// which TTB0 must be aligned to (at least 64 bytes).
fn vmsa_root_size(input_bits: u8, granule_bits: u8) -> u64 {
    let stride = granule_bits - 3;
    let bits = input_bits - granule_bits;
    let top = bits - (bits - 1) / stride * stride;
    (8u64 << top).max(64)
}

/// Checks a BindStage1 against the partition and the unit's limits.
fn stage1_table<U: Backend>(
    args: &BindStage1,
    flags: BindFlags,
    unit: &U,
    partition: &Partition,
    index: usize,
    pasid: Option<u32>,
    namespace: u8,
) -> Result<Stage1, HvError> {
    let device = &partition.devices[index];
    let limits = unit.limits(&device.host.info, &partition.domain);
    if limits.install.is_none() {
        return Err(HvError::Unsupported);
    }
    match pasid {
        Some(p) => {
            let bits = limits.pasid_bits.min(namespace);
            if !limits.caps.contains(SvaCaps::BIND_PASID) || u64::from(p) >> bits != 0 {
                return Err(HvError::Unsupported);
            }
        }
        None if !limits.caps.contains(SvaCaps::BIND) => return Err(HvError::Unsupported),
        None => {}
    }
    let format = Stage1Format::from_raw(args.format).ok_or(HvError::BadArgument)?;
    if !limits.formats.contains(format.capability()) {
        return Err(HvError::Unsupported);
    }
    let ram = partition.domain.ram;
    let x86_flags = BindFlags::X86_SRE | BindFlags::X86_WPE | BindFlags::X86_EAFE;
    let (input_bits, root_size, walk) = if format.is_x86() {
        let expected = if format == Stage1Format::X86FiveLevel {
            57
        } else {
            48
        };
        if args.input_bits != expected || args.mair != 0 || args.walk != 0 {
            return Err(HvError::BadArgument);
        }
        if flags.contains(BindFlags::VMSA_TBI) {
            return Err(HvError::Unsupported);
        }
        for (flag, cap) in [
            (BindFlags::X86_SRE, SvaCaps::X86_SRE),
            (BindFlags::X86_WPE, SvaCaps::X86_WPE),
            (BindFlags::X86_EAFE, SvaCaps::X86_EAFE),
        ] {
            if flags.contains(flag) && !limits.caps.contains(cap) {
                return Err(HvError::Unsupported);
            }
        }
        (expected as u8, 4096, TableWalk::WRITE_BACK_INNER_SHAREABLE)
    } else {
        if !(25..=48).contains(&args.input_bits) {
            return Err(HvError::BadArgument);
        }
        if args.input_bits > u32::from(limits.input_bits) || flags.intersects(x86_flags) {
            return Err(HvError::Unsupported);
        }
        let granule_bits = match format {
            Stage1Format::Vmsa16K => 14,
            Stage1Format::Vmsa64K => 16,
            _ => 12,
        };
        let walk = walk_attributes(args.walk)?;
        let bits = args.input_bits as u8;
        (bits, vmsa_root_size(bits, granule_bits), walk)
    };
    if !args.root.is_multiple_of(root_size) || !ram.contains(args.root, root_size) {
        return Err(HvError::BadArgument);
    }
    Ok(Stage1 {
        format,
        root: args.root,
        input_bits,
        flags: flags - BindFlags::PASID,
        mair: args.mair,
        walk,
    })
}

fn bind_stage1<U: Backend>(c: &mut Caller<'_, U>, args: BindStage1) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    let flags = BindFlags::from_bits(args.flags).ok_or(HvError::BadArgument)?;
    if args.reserved != 0 {
        return Err(HvError::BadArgument);
    }
    let index = sva
        .partitions
        .get(&id)
        .and_then(|p| p.device(args.device))
        .ok_or(HvError::NotFound)?;
    let pasid = named_pasid(sva, id, flags, args.pasid)?;
    let namespace = sva.pasids.bits();
    let (units, _, partition) = sva.parts(id).ok_or(HvError::NotFound)?;
    let unit_index = partition.devices[index].host.unit;
    let unit = units
        .get_mut(unit_index)
        .and_then(Option::as_mut)
        .ok_or(HvError::NotFound)?;
    let table = stage1_table(&args, flags, unit, partition, index, pasid, namespace)?;
    let device = &partition.devices[index];
    if device.cd_table.is_some() || device.stage1.contains_key(&pasid) {
        return Err(HvError::Busy);
    }
    let (rid, info) = (device.host.rid, device.host.info);
    let domain = partition.domain;
    let mut walk = WalkLimit(WALK_LIMIT_PER_CALL);
    let mut env = env(&*c.guest, &mut *c.stage2, &mut partition.budget, &mut walk);
    unit.bind_stage1(rid, pasid, &table, &info, &domain, &mut env)
        .map_err(hv)?;
    partition.devices[index].stage1.insert(
        pasid,
        Bound {
            input_bits: table.input_bits,
        },
    );
    Ok(0)
}

fn unbind_stage1<U: Backend>(c: &mut Caller<'_, U>, args: UnbindStage1) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    let flags = BindFlags::from_bits(args.flags)
        .filter(|f| (*f - BindFlags::PASID).is_empty())
        .ok_or(HvError::BadArgument)?;
    let index = sva
        .partitions
        .get(&id)
        .and_then(|p| p.device(args.device))
        .ok_or(HvError::NotFound)?;
    let pasid = named_pasid(sva, id, flags, args.pasid)?;
    let (units, _, partition) = sva.parts(id).ok_or(HvError::NotFound)?;
    if !partition.devices[index].stage1.contains_key(&pasid) {
        return Err(HvError::NotFound);
    }
    let rid = partition.devices[index].host.rid;
    let unit = units
        .get_mut(partition.devices[index].host.unit)
        .and_then(Option::as_mut)
        .ok_or(HvError::NotFound)?;
    let domain = partition.domain;
    let mut walk = WalkLimit(WALK_LIMIT_PER_CALL);
    let mut env = env(&*c.guest, &mut *c.stage2, &mut partition.budget, &mut walk);
    let result = unit.unbind_stage1(rid, pasid, &domain, &mut env);
    // Bound or not, the backend has dropped it (blocked on an error).
    partition.devices[index].stage1.remove(&pasid);
    // Requests on it will not be served now.
    let device = args.device;
    sva.answer_where(
        id,
        |o| o.device == device && o.request.pasid == pasid,
        ResponseCode::Invalid,
    );
    result.map(|()| 0).map_err(hv)
}

/// Checks a BindCdTable against the partition and the unit's limits.
fn guest_cd_table<U: Backend>(
    args: &BindCdTable,
    unit: &U,
    partition: &Partition,
    index: usize,
) -> Result<GuestCdTable, HvError> {
    let device = &partition.devices[index];
    let limits = unit.limits(&device.host.info, &partition.domain);
    if !limits.caps.contains(SvaCaps::CD_TABLE) || unit.kind() != IommuKind::SmmuV3 {
        return Err(HvError::Unsupported);
    }
    let config = CdTableConfig::from_raw(args.config).ok_or(HvError::BadArgument)?;
    let flags = CdTableFlags::from_bits(args.flags).ok_or(HvError::BadArgument)?;
    let stalls = flags.contains(CdTableFlags::STALL);
    if stalls && !limits.caps.contains(SvaCaps::STALL) {
        return Err(HvError::Unsupported);
    }
    let format = CdFormat::from_raw(args.format).ok_or(HvError::BadArgument)?;
    let leaf_bits = format.leaf_bits();
    let default_substream = match DefaultSubstream::from_raw(args.default_substream) {
        Some(DefaultSubstream::Terminate) => Dss::Terminate,
        Some(DefaultSubstream::Bypass) => Dss::Bypass,
        Some(DefaultSubstream::Substream0) => Dss::Substream0,
        None => return Err(HvError::BadArgument),
    };
    let format = match format {
        CdFormat::Linear => CdTableFormat::Linear,
        CdFormat::TwoLevel4K => CdTableFormat::TwoLevel4K,
        CdFormat::TwoLevel64K => CdTableFormat::TwoLevel64K,
    };
    let walk = walk_attributes(args.walk)?;
    let cd_max = u8::try_from(args.cd_max).map_err(|_| HvError::BadArgument)?;
    if cd_max > 32 {
        return Err(HvError::BadArgument);
    }
    if cd_max > limits.cd_max {
        return Err(HvError::Unsupported);
    }
    let config = match config {
        CdTableConfig::Abort => CdConfig::Abort,
        CdTableConfig::Bypass => CdConfig::Bypass,
        CdTableConfig::Translate => CdConfig::Translate,
    };
    if config == CdConfig::Translate {
        // The linear table, 64-byte aligned (S1ContextPtr is bits 51:6,
        // §5.2), or the level-1 table of 8-byte descriptors, aligned to its
        // size.
        let (bytes, align) = match leaf_bits {
            None => (64u64 << cd_max, 64),
            Some(leaf) if cd_max > leaf => {
                let bytes = 8u64 << (cd_max - leaf);
                (bytes, bytes.max(64))
            }
            Some(_) => return Err(HvError::BadArgument),
        };
        let ram = partition.domain.ram;
        if !args.table.is_multiple_of(align) || !ram.contains(args.table, bytes) {
            return Err(HvError::BadArgument);
        }
    }
    Ok(GuestCdTable {
        config,
        table: args.table,
        format,
        cd_max,
        default_substream,
        walk,
        stalls,
    })
}

fn bind_cd_table<U: Backend>(c: &mut Caller<'_, U>, args: BindCdTable) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    let (units, _, partition) = sva.parts(id).ok_or(HvError::NotFound)?;
    let index = partition.device(args.device).ok_or(HvError::NotFound)?;
    let unit = units
        .get_mut(partition.devices[index].host.unit)
        .and_then(Option::as_mut)
        .ok_or(HvError::NotFound)?;
    let table = guest_cd_table(&args, unit, partition, index)?;
    let device = &mut partition.devices[index];
    if device.cd_table.is_some() || !device.stage1.is_empty() {
        return Err(HvError::Busy);
    }
    unit.bind_cd_table(device.host.rid, &table, &partition.domain)
        .map_err(hv)?;
    device.cd_table = Some(table.cd_max);
    Ok(0)
}

fn unbind_cd_table<U: Backend>(c: &mut Caller<'_, U>, args: UnbindCdTable) -> Result<u64, HvError> {
    let (sva, id) = (&mut *c.sva, c.id);
    let (units, _, partition) = sva.parts(id).ok_or(HvError::NotFound)?;
    let index = partition.device(args.device).ok_or(HvError::NotFound)?;
    let device = &mut partition.devices[index];
    if device.cd_table.is_none() {
        return Err(HvError::NotFound);
    }
    let unit = units
        .get_mut(device.host.unit)
        .and_then(Option::as_mut)
        .ok_or(HvError::NotFound)?;
    let result = unit.unbind_cd_table(device.host.rid, &partition.domain);
    device.cd_table = None;
    let device = args.device;
    sva.answer_where(id, |o| o.device == device, ResponseCode::Invalid);
    result.map(|()| 0).map_err(hv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmsa_root_tables_are_sized_by_the_start_level() {
        // 4 KiB granule: 48 bits start at level 0 with 512 entries; 39 bits at
        // level 1 with 512; 40 bits at level 0 with 2 entries (64-byte minimum).
        assert_eq!(vmsa_root_size(48, 12), 4096);
        assert_eq!(vmsa_root_size(39, 12), 4096);
        assert_eq!(vmsa_root_size(40, 12), 64);
        assert_eq!(vmsa_root_size(42, 12), 64);
        assert_eq!(vmsa_root_size(25, 12), 16 * 8);
        // 64 KiB granule, 48 bits: 13 bits per level, 6 at the top.
        assert_eq!(vmsa_root_size(48, 16), 512);
        // 16 KiB granule, 47 bits: 11 per level, 33 = 3 * 11, a full table.
        assert_eq!(vmsa_root_size(47, 14), 16384);
    }

    #[test]
    fn walk_attributes_refuse_reserved_shareability_and_high_bits() {
        assert_eq!(
            walk_attributes(0b11_01_01),
            Ok(TableWalk::WRITE_BACK_INNER_SHAREABLE)
        );
        assert_eq!(walk_attributes(0b01_00_00), Err(HvError::BadArgument));
        assert_eq!(walk_attributes(1 << 6), Err(HvError::BadArgument));
    }
}
