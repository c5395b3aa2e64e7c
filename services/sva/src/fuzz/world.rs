//! A scenario's world: the service over a machine's units, the partition
//! slots with their devices, and what the harness remembers of each
//! partition (its RAM, stage 2, the tables and rings it wrote). Partitions
//! are made and removed here, with the accounting the oracle needs: every
//! page the service or a unit allocates while acting for a partition is
//! tagged with the partition's ID in the simulated memory.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::fmt::Display;

use vsva_abi::sva::{EVENT_RECORD_SIZE, EventKind, EventRecord, SvaStruct};
use vsva_iommu::hw::sim::SimMemory;

use super::input::Input;
use super::platform::{Landed, Platform, Stage2};
use super::{Outcome, Violation};
use crate::backend::DeviceInfo;
use crate::events::EventConfig;
use crate::guest::GuestMemory;
use crate::sim::{GUEST_BASE, Guest, KERNEL, Ram};
use crate::{HostDevice, PartitionId, Sva};

/// The owner tag of what the units hold for no partition.
pub(super) const UNITS: u32 = 0;
/// Requester IDs devices take on each unit (both halves of bus 0: VT-d
/// keeps a context table per half in scalable mode).
const RIDS: [u32; 5] = [0x08, 0x10, 0x18, 0x88, 0x90];
/// A requester on each unit that no partition is ever given.
pub(super) const STRAY: u32 = 0x30;
/// IDs the partitions' windows show.
const VIRTUAL_IDS: [u32; 4] = [0x08, 0x10, 0x18, 0x20];
/// Guest-physical RAM bases: odd ones make aligned tables cross the end.
const BASES: [u64; 4] = [GUEST_BASE, GUEST_BASE + 0x1000, 0x8000_0000, 0x1_0000_0000];

/// What a slot's partitions are made with.
#[derive(Debug)]
pub(super) struct Spec {
    pages: usize,
    base: u64,
    pub quota: u32,
    budget: usize,
    timeout_ns: u64,
    pub devices: Vec<HostDevice>,
}

/// A partition as the harness knows it.
#[derive(Debug)]
pub(super) struct Part {
    pub id: PartitionId,
    pub guest: Guest,
    pub stage2: Stage2,
    /// An injected error reached one of its operations: what it holds is
    /// accounted for, not checked.
    pub tainted: bool,
    /// Stage-1 root tables, CD tables and rings it wrote (guest-physical).
    pub roots: Vec<u64>,
    pub cd_tables: Vec<u64>,
    pub rings: Vec<u64>,
    /// Addresses its tables map.
    pub gvas: Vec<u64>,
    /// Its ring's consumer index, as it last wrote it.
    pub consumer: u32,
    /// Records it read last.
    pub records: Vec<EventRecord>,
}

#[derive(Debug)]
pub(super) enum State {
    Empty,
    Live(Part),
    /// Its removal was quarantined: its memory is never reused, its
    /// devices never reassigned.
    Kept(Part),
}

#[derive(Debug)]
pub(super) struct Slot {
    pub spec: Spec,
    pub state: State,
}

/// A scenario's service, machine and partitions.
pub(super) struct World<'p, P: Platform + 'p> {
    pub platform: &'p P,
    pub mem: Rc<SimMemory>,
    pub sva: Sva<P::Unit<'p>>,
    pub slots: Vec<Slot>,
    next_id: u32,
    /// Time, in ns, as the kernel's clock reads it.
    pub now: u64,
    /// Pages the units hold after bring-up.
    baseline: usize,
    /// A hardware error is armed for this step.
    pub armed: bool,
    pub step: usize,
    pub out: Outcome,
    /// Every partition made: its slot.
    history: BTreeMap<PartitionId, usize>,
}

impl<'p, P: Platform> World<'p, P> {
    /// The units brought up, every context table they keep made (by a
    /// partition assigned and removed), then the slots from `input`, each
    /// with a partition.
    pub fn new(platform: &'p P, input: &mut Input<'_>) -> Result<Self, Violation> {
        let mem = Rc::clone(platform.memory());
        let sva = Sva::new(platform.units(), 20);
        let mut w = Self {
            platform,
            mem,
            sva,
            slots: Vec::new(),
            next_id: 1,
            now: 0,
            baseline: 0,
            armed: false,
            step: 0,
            out: Outcome::default(),
            history: BTreeMap::new(),
        };
        w.warm_up()?;
        w.baseline = w.mem.allocated_pages_of(UNITS);
        let count = 2 + input.below(2);
        for _ in 0..count {
            let spec = spec(input, &w.slots);
            w.slots.push(Slot {
                spec,
                state: State::Empty,
            });
        }
        for slot in 0..count {
            w.create(slot)?;
        }
        Ok(w)
    }

    /// A violation at this step.
    pub fn violation(&self, what: impl Display) -> Violation {
        Violation {
            step: self.step,
            what: format!("{what}"),
        }
    }

    /// Runs `f` with the memory's allocations tagged `tag`.
    fn tagged<R>(&mut self, tag: u32, f: impl FnOnce(&mut Self) -> R) -> R {
        let before = self.mem.set_owner(tag);
        let r = f(self);
        self.mem.set_owner(before);
        r
    }

    /// Assigns and removes a device in each half of bus 0 on every unit.
    fn warm_up(&mut self) -> Result<(), Violation> {
        let id = PartitionId(u32::MAX);
        let mem = Rc::clone(&self.mem);
        let ram = self.tagged(KERNEL, |_| Ram::try_new(&mem, 1, GUEST_BASE));
        let ram = ram.ok_or_else(|| self.violation("no memory for the warm-up"))?;
        let made = self.tagged(KERNEL, |w| w.platform.stage2(1, &ram.ram));
        let (domain, stage2) = made.ok_or_else(|| self.violation("no warm-up stage 2"))?;
        let added = self.sva.add_partition(id, domain, 0, 0);
        let units = self.sva.units().count();
        for unit in 0..units {
            for rid in [0x00, 0x80] {
                let device = HostDevice {
                    unit,
                    rid,
                    virtual_id: rid + unit as u32,
                    info: DeviceInfo::default(),
                };
                let assigned = self.sva.assign(id, device);
                if added.is_err() || assigned.is_err() {
                    return Err(self.violation(format!("warm-up: {added:?} {assigned:?}")));
                }
            }
        }
        let removed = self.sva.remove_partition(id);
        removed.map_err(|q| self.violation(format!("warm-up removal: {q:?}")))?;
        stage2.destroy(&self.mem);
        ram.free();
        Ok(())
    }

    /// Makes the partition of `slot` (a new ID each time): RAM, stage 2,
    /// the service's partition, its devices assigned.
    pub fn create(&mut self, slot: usize) -> Result<(), Violation> {
        let id = PartitionId(self.next_id);
        self.next_id += 1;
        let spec = &self.slots[slot].spec;
        let (pages, base) = (spec.pages, spec.base);
        let (quota, budget) = (spec.quota, spec.budget);
        let timeout = spec.timeout_ns;
        let devices = spec.devices.clone();
        let mem = Rc::clone(&self.mem);
        let Some(ram) = self.tagged(KERNEL, |_| Ram::try_new(&mem, pages, base)) else {
            return Ok(());
        };
        let made = self.tagged(KERNEL, |w| w.platform.stage2(id.0 as u16, &ram.ram));
        let Some((domain, stage2)) = made else {
            ram.free();
            return Ok(());
        };
        let armed = self.armed;
        let result = self.tagged(id.0, |w| {
            w.sva.add_partition(id, domain, quota, budget)?;
            let config = EventConfig {
                request_timeout_ns: timeout,
                ..EventConfig::default()
            };
            w.sva.set_event_config(id, config)?;
            devices.iter().try_for_each(|&d| w.sva.assign(id, d))
        });
        self.history.insert(id, slot);
        let part = Part {
            id,
            guest: Guest::new(id, ram),
            stage2,
            tainted: armed,
            roots: Vec::new(),
            cd_tables: Vec::new(),
            rings: Vec::new(),
            gvas: Vec::new(),
            consumer: 0,
            records: Vec::new(),
        };
        self.slots[slot].state = State::Live(part);
        if let Err(e) = result {
            if !armed {
                return Err(self.violation(format!("partition {} not made: {e:?}", id.0)));
            }
            // What was assigned goes again.
            self.remove(slot)?;
        }
        Ok(())
    }

    /// Removes the partition of `slot`, and checks what it leaves.
    pub fn remove(&mut self, slot: usize) -> Result<(), Violation> {
        let State::Live(mut part) = core::mem::replace(&mut self.slots[slot].state, State::Empty)
        else {
            return Ok(());
        };
        let id = part.id;
        part.tainted |= self.armed;
        let result = self.tagged(id.0, |w| w.sva.remove_partition(id));
        self.out.removals += 1;
        if !self.sva.pasids_of(id).is_empty() || self.sva.bindings_of(id) != 0 {
            return Err(self.violation(format!("partition {} removed, still holding", id.0)));
        }
        if let Err(q) = result {
            self.out.quarantines += 1;
            if !part.tainted {
                return Err(self.violation(format!(
                    "partition {} quarantined with no error injected: {q:?}",
                    id.0
                )));
            }
            self.slots[slot].state = State::Kept(part);
            return Ok(());
        }
        part.stage2.destroy(&self.mem);
        part.guest.ram.free();
        let left = self.mem.allocated_pages_of(id.0);
        if part.tainted {
            self.out.kept_pages += left;
        } else if left != 0 {
            return Err(self.violation(format!(
                "partition {} removed, {left} page(s) of it still allocated",
                id.0
            )));
        }
        Ok(())
    }

    /// Removes every partition left and checks the whole service is back
    /// where it started.
    pub fn finish(mut self) -> Result<Outcome, Violation> {
        for slot in 0..self.slots.len() {
            self.remove(slot)?;
        }
        if self.sva.pasids_in_use() != 0 {
            let n = self.sva.pasids_in_use();
            return Err(self.violation(format!("{n} PASID(s) held with no partition")));
        }
        let units = self.mem.allocated_pages_of(UNITS);
        if units != self.baseline {
            return Err(self.violation(format!(
                "the units hold {units} pages, {} after bring-up",
                self.baseline
            )));
        }
        for slot in &self.slots {
            if let State::Kept(part) = &slot.state {
                self.out.kept_pages += self.mem.allocated_pages_of(part.id.0);
            }
        }
        self.out.steps = self.step;
        Ok(self.out)
    }

    /// The live partition of `slot`.
    pub fn live(&mut self, slot: usize) -> Option<&mut Part> {
        match &mut self.slots.get_mut(slot)?.state {
            State::Live(p) => Some(p),
            _ => None,
        }
    }

    /// A slot chosen by the input, with its live partition.
    pub fn pick_live(&mut self, input: &mut Input<'_>) -> Option<usize> {
        let slot = input.below(self.slots.len());
        self.live(slot).map(|_| slot)
    }

    /// Marks the partition of `slot` as reached by the armed error.
    pub fn taint(&mut self, slot: usize) {
        let armed = self.armed;
        if let Some(p) = self.live(slot) {
            p.tainted |= armed;
        }
    }

    /// The partition (live or kept) that owns (`unit`, `rid`), with the
    /// slot's spec.
    fn owner(&self, unit: usize, rid: u32) -> Option<&Part> {
        self.slots.iter().find_map(|s| {
            let owns = s
                .spec
                .devices
                .iter()
                .any(|d| d.unit == unit && d.rid == rid);
            match &s.state {
                State::Live(p) | State::Kept(p) if owns => Some(p),
                _ => None,
            }
        })
    }

    /// Checks where a completed DMA of (`unit`, `rid`) landed.
    pub fn check_landed(&self, unit: usize, rid: u32, landed: &Landed) -> Result<(), Violation> {
        let owner = self.owner(unit, rid);
        for &(pa, len, write) in landed {
            let inside = |base: u64, size: u64| {
                pa >= base && pa.checked_add(len).is_some_and(|end| end <= base + size)
            };
            let allowed = owner.is_some_and(|p| {
                let ram = p.guest.ram.ram;
                inside(ram.host, ram.size)
                    || (!write && p.stage2.placed().iter().any(|&(_, b, n)| inside(b, n)))
            });
            if !allowed {
                let whose = owner.map_or(0, |p| p.id.0);
                return Err(self.violation(format!(
                    "{} of unit {unit} requester {rid:#x} (partition {whose}) landed at {pa:#x}+{len:#x}",
                    if write { "a write" } else { "a read" }
                )));
            }
        }
        Ok(())
    }

    /// Checks the stalled transactions retried since the last step.
    pub fn check_stalls(&mut self) -> Result<(), Violation> {
        for (unit, rid, landed) in self.platform.completed_stalls() {
            self.out.dma_ok += 1;
            self.check_landed(unit, rid, &landed)?;
        }
        Ok(())
    }

    /// The IDs `slot`'s window shows its devices under.
    pub fn own_ids(&self, slot: usize) -> Vec<u32> {
        let devices = &self.slots[slot].spec.devices;
        devices.iter().map(|d| d.virtual_id).collect()
    }

    /// Whether `device` (a window ID) is one of `slot`'s devices.
    pub fn owns(&self, slot: usize, device: u32) -> bool {
        self.own_ids(slot).contains(&device)
    }

    /// Writes `slot`'s waiting events into its ring and checks the records.
    pub fn deliver(&mut self, slot: usize) -> Result<(), Violation> {
        let now = self.now;
        let State::Live(part) = &mut self.slots[slot].state else {
            return Ok(());
        };
        let id = part.id;
        let d = self.sva.deliver(id, &mut part.guest.ram, now);
        let Some((base, entries)) = self.sva.event_ring(id) else {
            if d.written > 0 || d.interrupt.is_some() {
                return Err(self.violation("records written with no ring"));
            }
            return Ok(());
        };
        if d.written > entries || (d.written == 0 && d.interrupt.is_some()) {
            return Err(self.violation(format!("delivery {d:?} into {entries} entries")));
        }
        self.out.records += d.written as usize;
        let Some(State::Live(part)) = self.slots.get(slot).map(|s| &s.state) else {
            return Ok(());
        };
        let mut producer = [0u8; 4];
        if d.written > 0 && part.guest.ram.read(base, &mut producer).is_err() {
            return Err(self.violation("the ring's header is outside RAM"));
        }
        let producer = u32::from_le_bytes(producer);
        for k in 0..d.written {
            let index = producer.wrapping_sub(d.written - k);
            let at = base + EVENT_RECORD_SIZE * (u64::from(index % entries) + 1);
            let mut bytes = [0u8; EventRecord::SIZE];
            if part.guest.ram.read(at, &mut bytes).is_err() {
                return Err(self.violation("a record outside RAM"));
            }
            let r = EventRecord::decode(&bytes);
            if EventKind::from_raw(r.kind).is_none() || !self.owns(slot, r.device) {
                return Err(self.violation(format!("partition {} got {r:?}", id.0)));
            }
        }
        Ok(())
    }

    /// Takes the routed faults and checks their owners.
    pub fn check_faults(&mut self) -> Result<(), Violation> {
        for f in self.sva.take_faults() {
            let Some(pid) = f.partition else {
                continue;
            };
            let ok = self.history.get(&pid).is_some_and(|&slot| {
                self.slots[slot].spec.devices.iter().any(|d| {
                    d.unit == f.unit && d.rid == f.fault.requester && Some(d.virtual_id) == f.device
                })
            });
            if !ok {
                return Err(self.violation(format!("fault routed to {}: {f:?}", pid.0)));
            }
        }
        Ok(())
    }
}

/// A slot's layout and devices: RAM of 16 to 64 pages, one of [`BASES`], a
/// quota, a shadow budget, a request timeout, one or two devices on either
/// unit with requester IDs no other slot has there.
fn spec(input: &mut Input<'_>, slots: &[Slot]) -> Spec {
    let pages = 16 << input.below(3);
    let base = BASES[input.below(BASES.len())];
    let quota = input.below(7) as u32;
    let budget = [0, 4, 16, 64, 256][input.below(5)];
    let timeout_ns = 1_000_000 << input.below(12);
    let mut devices: Vec<HostDevice> = Vec::new();
    for _ in 0..1 + input.below(2) {
        let unit = input.below(2);
        let taken = |rid: u32| {
            slots
                .iter()
                .flat_map(|s| &s.spec.devices)
                .chain(&devices)
                .any(|d| d.unit == unit && d.rid == rid)
        };
        let free: Vec<u32> = RIDS.into_iter().filter(|&r| !taken(r)).collect();
        let Some(rid) = input.pick(&free) else {
            continue;
        };
        let ids: Vec<u32> = VIRTUAL_IDS
            .into_iter()
            .filter(|&v| devices.iter().all(|d| d.virtual_id != v))
            .collect();
        let Some(virtual_id) = input.pick(&ids) else {
            continue;
        };
        let bits = input.u8();
        let info = DeviceInfo {
            pasid_bits: [0, 5, 8, 20][usize::from(bits & 3)],
            pasid_exec: bits & 4 != 0,
            pasid_priv: bits & 8 != 0,
            pri: bits & 16 != 0,
        };
        devices.push(HostDevice {
            unit,
            rid,
            virtual_id,
            info,
        });
    }
    Spec {
        pages,
        base,
        quota,
        budget,
        timeout_ns,
        devices,
    }
}
