//! The calls' argument structs as a guest writes them: built from the input
//! with values a guest would use (its devices, its PASIDs, its tables,
//! rings and CD tables in its RAM) or another's, or nonsense; and the
//! well-formed calls of a guest that does everything right.

use alloc::vec;
use alloc::vec::Vec;

use vsva_abi::Call;
use vsva_abi::sva::{
    BindCdTable, BindStage1, EntryFlags, EventQueue, Invalidate, InvalidateEntry, PageResponse,
    Pasid, Stage1Format, SvaInfo, SvaStruct, UnbindCdTable, UnbindStage1,
};

use super::input::Input;
use super::platform::Platform;
use super::world::{Part, State, World};
use crate::PartitionId;
use crate::guest::GuestMemory;
use crate::sim::tables::{guest_cd_stalling, vmsa};

/// Where a batch's entries go: the scratch page after the struct.
const ENTRIES_OFFSET: u64 = 0x400;

/// A struct ready to be laid out, and what its checks need.
#[derive(Debug, Default)]
pub(super) struct Built {
    pub bytes: Vec<u8>,
    /// The device it names.
    pub device: Option<u32>,
    /// The PASID it names (with the PASID flag where there is one).
    pub pasid: Option<u32>,
    /// An Invalidate's entries, when written intact: their devices.
    pub entry_devices: Option<Vec<u32>>,
}

pub(super) fn encode<T: SvaStruct>(value: &T) -> Vec<u8> {
    let mut bytes = vec![0u8; T::SIZE];
    value.encode(&mut bytes);
    bytes
}

impl<P: Platform> World<'_, P> {
    /// A well-formed call of `slot`'s on one of its devices: a ring
    /// registered, a PASID taken, pages mapped and the table bound (or, on
    /// an SMMU, a CD table of its own), what it mapped invalidated.
    pub(super) fn well_formed(
        &mut self,
        slot: usize,
        input: &mut Input<'_>,
    ) -> Option<(Call, Built)> {
        let own = self.own_ids(slot);
        let device = input.pick(&own)?;
        let held = self
            .part_id(slot)
            .map(|id| self.sva.pasids_of(id))
            .unwrap_or_default();
        let pasid = input.pick(&held).filter(|_| input.bool());
        let (call, args) = match input.below(5) {
            0 => {
                let ring = self.ring_area(slot, 1, input);
                let entries = 8 << input.below(4);
                let args = EventQueue {
                    size: 48,
                    op: 1,
                    ring,
                    entries,
                    intid: 40,
                    ..EventQueue::default()
                };
                (Call::EventQueue, encode(&args))
            }
            1 => (
                Call::PasidAlloc,
                encode(&Pasid {
                    size: 16,
                    ..Pasid::default()
                }),
            ),
            2 => {
                let root = self.map_some(slot, input)?;
                let (format, bits, mair, walk) = if P::ARM {
                    (Stage1Format::Vmsa4K as u32, 39, vmsa::MAIR, vmsa::WALK)
                } else {
                    (Stage1Format::X86FourLevel as u32, 48, 0, 0)
                };
                let args = BindStage1 {
                    size: 48,
                    device,
                    flags: u32::from(pasid.is_some()),
                    pasid: pasid.unwrap_or(0),
                    format,
                    input_bits: bits,
                    root,
                    mair,
                    walk,
                    reserved: 0,
                };
                (Call::BindStage1, encode(&args))
            }
            3 if P::ARM => {
                let root = self.map_some(slot, input)?;
                let part = self.live(slot)?;
                let table = part.guest.try_page()?;
                part.cd_tables.push(table);
                let cd_max = input.below(7) as u32;
                for ssid in 0..1u64 << input.below(3) {
                    let cd = guest_cd_stalling(root, 1 + ssid as u16, input.bool());
                    let _ = part.guest.ram.write(table + 64 * ssid, &cd);
                }
                let args = BindCdTable {
                    size: 40,
                    device,
                    config: 2,
                    flags: u32::from(input.bool()),
                    format: 0,
                    cd_max,
                    default_substream: input.below(3) as u32,
                    walk: vmsa::WALK,
                    table,
                };
                (Call::BindCdTable, encode(&args))
            }
            _ => {
                let gvas = self.live(slot).map(|p| p.gvas.clone()).unwrap_or_default();
                let gva = input.pick(&gvas).unwrap_or(0);
                let all = input.chance(64);
                let e = InvalidateEntry {
                    kind: if all { 2 } else { 1 },
                    flags: u8::from(pasid.is_some()),
                    device,
                    pasid: pasid.unwrap_or(0),
                    address: if all { 0 } else { gva },
                    size: if all { 0 } else { 0x1000 << input.below(3) },
                    ..InvalidateEntry::default()
                };
                let part = self.live(slot)?;
                let at = part.guest.scratch + ENTRIES_OFFSET;
                let _ = part.guest.ram.write(at, &encode(&e));
                let args = Invalidate {
                    size: 24,
                    entry_size: 32,
                    count: 1,
                    flags: 0,
                    entries: at,
                };
                let built = Built {
                    bytes: encode(&args),
                    entry_devices: Some(alloc::vec![device]),
                    ..Built::default()
                };
                return Some((Call::Invalidate, built));
            }
        };
        let built = Built {
            bytes: args,
            device: matches!(call, Call::BindStage1 | Call::BindCdTable).then_some(device),
            pasid,
            ..Built::default()
        };
        Some((call, built))
    }

    /// A device ID for `slot` to name: mostly its own.
    fn device(&self, slot: usize, input: &mut Input<'_>) -> u32 {
        let own = self.own_ids(slot);
        match input.below(8) {
            0..=5 => input.pick(&own).unwrap_or(0x08),
            // An ID no window shows.
            6 => 0x28 + input.below(8) as u32,
            _ => input.u32(),
        }
    }

    /// A PASID for `slot` to name: mostly one it holds.
    fn pasid(&self, slot: usize, input: &mut Input<'_>) -> u32 {
        let id = self.part_id(slot);
        let own = id.map(|id| self.sva.pasids_of(id)).unwrap_or_default();
        match input.below(8) {
            0..=4 => input.pick(&own).unwrap_or(1),
            5 => 1 + input.below(8) as u32,
            6 => input.u32() & 0xf_ffff,
            _ => input.u32(),
        }
    }

    pub(super) fn part_id(&self, slot: usize) -> Option<PartitionId> {
        match &self.slots[slot].state {
            State::Live(p) => Some(p.id),
            _ => None,
        }
    }

    /// A guest-physical address for a table: one `list` has, a new page,
    /// anywhere in RAM, or anywhere.
    fn table_address(
        &mut self,
        slot: usize,
        list: fn(&mut Part) -> &mut Vec<u64>,
        input: &mut Input<'_>,
    ) -> u64 {
        let choice = input.below(8);
        let Some(part) = self.live(slot) else {
            return 0;
        };
        let ram = part.guest.ram.ram;
        match choice {
            0..=5 => {
                let known = list(part).clone();
                match input.pick(&known) {
                    Some(gpa) if choice > 0 || known.len() >= 4 => gpa,
                    _ => match part.guest.try_page() {
                        Some(gpa) => {
                            list(part).push(gpa);
                            gpa
                        }
                        None => ram.guest,
                    },
                }
            }
            6 => (ram.guest + u64::from(input.u32()) % ram.size) & !0x3f,
            _ => input.u64(),
        }
    }

    /// The call's struct.
    pub(super) fn build(&mut self, slot: usize, call: Call, input: &mut Input<'_>) -> Built {
        let device = self.device(slot, input);
        let with_pasid = input.bool();
        let pasid = self.pasid(slot, input);
        let odd = input.chance(16);
        let junk = if odd { input.u32() } else { 0 };
        match call {
            Call::SvaInfo => Built {
                bytes: encode(&SvaInfo {
                    size: 48,
                    device,
                    ..SvaInfo::default()
                }),
                device: Some(device),
                ..Built::default()
            },
            Call::PasidAlloc | Call::PasidFree => Built {
                bytes: encode(&Pasid {
                    size: 16,
                    flags: junk & 1,
                    pasid,
                    reserved: junk & 2,
                }),
                pasid: (call == Call::PasidFree).then_some(pasid),
                ..Built::default()
            },
            Call::BindStage1 => {
                let root = self.table_address(slot, |p| &mut p.roots, input);
                let flags = u32::from(with_pasid) | if odd { junk & 0x3e } else { 0 };
                let (format, bits, mair, walk) = if P::ARM {
                    let format = [3, 3, 4, 5][input.below(4)];
                    let bits = if input.chance(200) {
                        39
                    } else {
                        25 + input.below(24) as u32
                    };
                    (format, bits, vmsa::MAIR, vmsa::WALK)
                } else {
                    let five = input.chance(32);
                    (
                        Stage1Format::X86FourLevel as u32 + u32::from(five),
                        if five { 57 } else { 48 },
                        0,
                        0,
                    )
                };
                let args = BindStage1 {
                    size: 48,
                    device,
                    flags,
                    pasid: if with_pasid { pasid } else { junk & 4 },
                    format: if odd { junk % 7 } else { format },
                    input_bits: bits,
                    root,
                    mair: if odd { u64::from(junk) } else { mair },
                    walk: if odd { junk >> 8 } else { walk },
                    reserved: 0,
                };
                Built {
                    bytes: encode(&args),
                    device: Some(device),
                    pasid: with_pasid.then_some(pasid),
                    ..Built::default()
                }
            }
            Call::UnbindStage1 => Built {
                bytes: encode(&UnbindStage1 {
                    size: 16,
                    device,
                    flags: u32::from(with_pasid) | (junk & 2),
                    pasid: if with_pasid { pasid } else { junk & 4 },
                }),
                device: Some(device),
                pasid: with_pasid.then_some(pasid),
                ..Built::default()
            },
            Call::BindCdTable => {
                let table = self.table_address(slot, |p| &mut p.cd_tables, input);
                let args = BindCdTable {
                    size: 40,
                    device,
                    config: if odd {
                        junk % 4
                    } else {
                        [2, 2, 2, 0, 1][input.below(5)]
                    },
                    flags: u32::from(input.bool()) | (junk & 2),
                    format: input.below(3) as u32,
                    cd_max: if odd {
                        junk % 40
                    } else {
                        input.below(9) as u32
                    },
                    default_substream: input.below(3) as u32,
                    walk: if odd { junk >> 8 } else { vmsa::WALK },
                    table,
                };
                Built {
                    bytes: encode(&args),
                    device: Some(device),
                    ..Built::default()
                }
            }
            Call::UnbindCdTable => Built {
                bytes: encode(&UnbindCdTable { size: 8, device }),
                device: Some(device),
                ..Built::default()
            },
            Call::Invalidate => self.batch(slot, input, odd, junk),
            Call::EventQueue => {
                let op = if odd { junk % 4 } else { input.below(3) as u32 };
                let register = op == 1;
                let ring = if register {
                    let choice = input.below(8);
                    self.ring_area(slot, choice, input)
                } else {
                    u64::from(junk & 8)
                };
                let args = EventQueue {
                    size: 48,
                    op,
                    ring,
                    entries: if register { 1 << input.below(7) } else { 0 },
                    intid: if register {
                        [0, 40, 32, junk][input.below(4)]
                    } else {
                        0
                    },
                    ..EventQueue::default()
                };
                Built {
                    bytes: encode(&args),
                    ..Built::default()
                }
            }
            Call::PageResponse => Built {
                bytes: encode(&PageResponse {
                    size: 24,
                    device,
                    flags: input.below(4) as u32,
                    pasid: if with_pasid { pasid } else { 0 },
                    group: u32::from(input.u16()) & if odd { 0xffff } else { 0x1ff },
                    code: if odd { junk } else { input.below(3) as u32 },
                }),
                device: Some(device),
                ..Built::default()
            },
            _ => Built::default(),
        }
    }

    /// Two pages for a ring (up to 64 records), by `choice` (below 8): one
    /// the partition had, new ones, or anywhere.
    fn ring_area(&mut self, slot: usize, choice: usize, input: &mut Input<'_>) -> u64 {
        let Some(part) = self.live(slot) else {
            return 0;
        };
        match choice {
            0..=5 => {
                let known = part.rings.clone();
                if let Some(gpa) = input
                    .pick(&known)
                    .filter(|_| choice > 0 || known.len() >= 2)
                {
                    return gpa;
                }
                let (Some(gpa), Some(_)) = (part.guest.try_page(), part.guest.try_page()) else {
                    return part.guest.ram.ram.guest;
                };
                part.rings.push(gpa);
                gpa
            }
            6 => part.guest.ram.ram.guest + (input.u32() as u64 % part.guest.ram.ram.size),
            _ => input.u64(),
        }
    }

    /// An Invalidate of up to 8 entries, written after the struct.
    fn batch(&mut self, slot: usize, input: &mut Input<'_>, odd: bool, junk: u32) -> Built {
        let count = if odd && junk & 1 != 0 {
            junk >> 20
        } else {
            input.below(9) as u32
        };
        let entry_size = if odd && junk & 2 != 0 { junk >> 24 } else { 32 };
        let gvas = self.live(slot).map(|p| p.gvas.clone()).unwrap_or_default();
        let mut entries = Vec::new();
        let mut devices = Vec::new();
        for _ in 0..count.min(8) {
            let device = self.device(slot, input);
            let with_pasid = input.bool();
            let pasid = self.pasid(slot, input);
            let kind = 1 + input.below(5) as u8;
            let range = matches!(kind, 1 | 5);
            let address = match input.pick(&gvas) {
                Some(gva) if input.chance(200) => gva,
                _ => input.u64() & 0x0000_ffff_ffff_f000,
            };
            let mut flags = EntryFlags::empty();
            flags.set(EntryFlags::PASID, with_pasid);
            flags.set(EntryFlags::LEAF, kind == 1 && input.bool());
            flags.set(EntryFlags::ASID, input.chance(24));
            let e = InvalidateEntry {
                kind: if input.chance(8) { input.u8() } else { kind },
                flags: flags.bits() | if input.chance(4) { input.u8() } else { 0 },
                asid: if flags.contains(EntryFlags::ASID) {
                    input.u16()
                } else {
                    0
                },
                device,
                pasid: if with_pasid { pasid } else { 0 },
                reserved: 0,
                address: if range { address } else { 0 },
                size: if range { 0x1000 << input.below(12) } else { 0 },
            };
            devices.push(device);
            entries.extend(encode(&e));
        }
        let Some(part) = self.live(slot) else {
            return Built::default();
        };
        let at = part.guest.scratch + ENTRIES_OFFSET;
        let fits = part.guest.ram.write(at, &entries).is_ok();
        let hostile = input.chance(16);
        let args = Invalidate {
            size: 24,
            entry_size,
            count,
            flags: junk & 0x10,
            entries: if hostile { input.u64() } else { at },
        };
        let intact = fits && !hostile && entry_size == 32 && count <= 8;
        Built {
            bytes: encode(&args),
            entry_devices: intact.then_some(devices),
            ..Built::default()
        }
    }
}
