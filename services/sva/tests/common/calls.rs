//! The calls' argument structs, and the calls themselves made by a guest on
//! either rig: a VT-d guest passes no stage 2, an SMMU guest its own (where
//! the service places its CD tables).

use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, CdTableConfig, Invalidate, InvalidateEntry, InvalidateKind,
    Pasid, Stage1Format, SvaInfo, SvaStruct, UnbindCdTable, UnbindStage1,
};
use vsva_abi::{Call, HvError};
use vsva_sva::Sva;
use vsva_sva::backend::{Backend, NoStage2Tables, Stage2Tables};
use vsva_sva::guest::GuestMemory;

use super::{Guest, vmsa};

/// A guest on a rig: the stage 2 its calls go with, the table format the
/// tests bind on that rig's IOMMU.
pub trait Caller {
    fn with<R>(&mut self, f: impl FnOnce(&mut Guest, &mut dyn Stage2Tables) -> R) -> R;
    fn bind_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1;
}

/// A guest of the VT-d rig: x86 tables, no stage 2 to place tables in.
impl Caller for Guest {
    fn with<R>(&mut self, f: impl FnOnce(&mut Guest, &mut dyn Stage2Tables) -> R) -> R {
        f(self, &mut NoStage2Tables)
    }

    fn bind_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
        x86_args(device, pasid, root)
    }
}

/// (call, the size vsva knows) for every vSVA call.
#[rustfmt::skip]
pub const STRUCTS: [(Call, u32); 8] = [
    (Call::SvaInfo, 48), (Call::PasidAlloc, 16), (Call::PasidFree, 16), (Call::BindStage1, 48),
    (Call::UnbindStage1, 16), (Call::BindCdTable, 40), (Call::UnbindCdTable, 8), (Call::Invalidate, 24),
];

/// The PASID flag where there is a PASID (bit 0 in binds and entries alike).
pub fn flag(pasid: Option<u32>) -> u32 {
    if pasid.is_some() {
        BindFlags::PASID.bits()
    } else {
        0
    }
}

/// A bind of the table at `root`, its format left to the two below.
fn stage1_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
    BindStage1 {
        size: 48,
        device,
        flags: flag(pasid),
        pasid: pasid.unwrap_or(0),
        root,
        ..Default::default()
    }
}

/// An x86 4-level table of 48 input bits (an X86Table).
pub fn x86_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
    BindStage1 {
        format: Stage1Format::X86FourLevel as u32,
        input_bits: 48,
        ..stage1_args(device, pasid, root)
    }
}

/// A VMSAv8 4 KiB-granule table of 39 input bits (a VmsaTable).
pub fn vmsa_args(device: u32, pasid: Option<u32>, root: u64) -> BindStage1 {
    BindStage1 {
        format: Stage1Format::Vmsa4K as u32,
        input_bits: 39,
        mair: vmsa::MAIR,
        walk: vmsa::WALK,
        ..stage1_args(device, pasid, root)
    }
}

pub fn unbind_args(device: u32, pasid: Option<u32>) -> UnbindStage1 {
    UnbindStage1 {
        size: 16,
        device,
        flags: flag(pasid),
        pasid: pasid.unwrap_or(0),
    }
}

/// A guest CD table at `table` that translates, default substream 1.
pub fn cd_args(device: u32, table: u64, format: u32, cd_max: u32) -> BindCdTable {
    BindCdTable {
        size: 40,
        device,
        config: CdTableConfig::Translate as u32,
        flags: 0,
        format,
        cd_max,
        default_substream: 1,
        walk: vmsa::WALK,
        table,
    }
}

pub fn unbind_cd_args(device: u32) -> UnbindCdTable {
    UnbindCdTable { size: 8, device }
}

pub fn info_args(device: u32) -> SvaInfo {
    SvaInfo {
        size: 48,
        device,
        ..Default::default()
    }
}

pub fn pasid_args(pasid: u32) -> Pasid {
    Pasid {
        size: 16,
        pasid,
        ..Default::default()
    }
}

pub fn entry(
    kind: InvalidateKind,
    device: u32,
    pasid: Option<u32>,
    address: u64,
    size: u64,
) -> InvalidateEntry {
    InvalidateEntry {
        kind: kind as u8,
        flags: flag(pasid) as u8,
        device,
        pasid: pasid.unwrap_or(0),
        address,
        size,
        ..Default::default()
    }
}

/// `count` 32-byte entries at `entries`.
pub fn batch_args(entries: u64, count: u32) -> Invalidate {
    Invalidate {
        size: 24,
        entry_size: 32,
        count,
        flags: 0,
        entries,
    }
}

/// Where batches are written: the scratch page after the struct.
pub fn entries_at(g: &Guest) -> u64 {
    g.scratch + ENTRIES_OFFSET
}

/// Where in the scratch page invalidation entries are written.
const ENTRIES_OFFSET: u64 = 0x400;

/// Calls with `v`: the result and the struct read back.
pub fn call_out<T: SvaStruct, B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    call: Call,
    v: &T,
) -> (Result<u64, HvError>, T) {
    c.with(|g, s2| g.call(sva, s2, call, v))
}

pub fn call<T: SvaStruct, B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    call: Call,
    v: &T,
) -> Result<u64, HvError> {
    call_out(sva, c, call, v).0
}

/// SvaInfo on `device`: the result and the answer.
pub fn sva_info<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    device: u32,
) -> (Result<u64, HvError>, SvaInfo) {
    call_out(sva, c, Call::SvaInfo, &info_args(device))
}

/// A new PASID (the call's value 0), or the call's error.
pub fn alloc<B: Backend>(sva: &mut Sva<B>, c: &mut impl Caller) -> Result<u32, HvError> {
    let (r, out) = call_out(sva, c, Call::PasidAlloc, &pasid_args(0));
    r.map(|value| {
        assert_eq!(value, 0, "PasidAlloc's value");
        out.pasid
    })
}

pub fn free<B: Backend>(sva: &mut Sva<B>, c: &mut impl Caller, pasid: u32) -> Result<u64, HvError> {
    call(sva, c, Call::PasidFree, &pasid_args(pasid))
}

/// Binds the table at `root` (an X86Table or a VmsaTable, by the rig).
pub fn bind<B: Backend, C: Caller>(
    sva: &mut Sva<B>,
    c: &mut C,
    device: u32,
    pasid: Option<u32>,
    root: u64,
) -> Result<u64, HvError> {
    call(sva, c, Call::BindStage1, &C::bind_args(device, pasid, root))
}

pub fn unbind<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    device: u32,
    pasid: Option<u32>,
) -> Result<u64, HvError> {
    call(sva, c, Call::UnbindStage1, &unbind_args(device, pasid))
}

pub fn unbind_cd<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    device: u32,
) -> Result<u64, HvError> {
    call(sva, c, Call::UnbindCdTable, &unbind_cd_args(device))
}

/// Makes `which` with each case's struct: each refused with its error.
pub fn refused<T: SvaStruct, B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    which: Call,
    cases: &[(&str, T, HvError)],
) {
    for (name, args, e) in cases {
        assert_eq!(call(sva, c, which, args), Err(*e), "{name}");
    }
}

/// Invalidate with `args` as they are: the result and the count read back.
pub fn batch<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    args: Invalidate,
) -> (Result<u64, HvError>, u32) {
    let (r, out) = call_out(sva, c, Call::Invalidate, &args);
    (r, out.count)
}

/// Writes `entries` (32 bytes each) at `entries_at` and invalidates them.
pub fn invalidate<B: Backend>(
    sva: &mut Sva<B>,
    c: &mut impl Caller,
    entries: &[InvalidateEntry],
) -> (Result<u64, HvError>, u32) {
    // The array lives in the scratch page; beyond it lies the guest's own
    // memory (its tables, in most rigs).
    assert!(
        ENTRIES_OFFSET as usize + 32 * entries.len() <= 0x1000,
        "{} entries do not fit the scratch page",
        entries.len()
    );
    let at = c.with(|g, _| {
        let at = entries_at(g);
        for (i, e) in entries.iter().enumerate() {
            let mut b = [0u8; 32];
            e.encode(&mut b);
            g.ram.write(at + 32 * i as u64, &b).unwrap();
        }
        at
    });
    batch(sva, c, batch_args(at, entries.len() as u32))
}
