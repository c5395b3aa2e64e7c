//! What a guest does to its own memory between calls: maps pages in its
//! stage-1 tables (to its RAM, to another partition's addresses, to the
//! table window, anywhere), scribbles on its tables, CD tables and ring,
//! writes CDs, and reads its ring as a guest driver would (answering some
//! records, writing a wild consumer index now and then). Also the kernel's
//! side: time slices (poll, deliver), routed faults, partitions removed
//! and made again.

use alloc::vec::Vec;

use vsva_abi::sva::{EVENT_RECORD_SIZE, EventRecord, SvaStruct, TABLE_WINDOW_BASE};

use super::Violation;
use super::input::Input;
use super::platform::Platform;
use super::world::{State, World};
use crate::guest::GuestMemory;
use crate::sim::tables::{VmsaTable, X86Table, guest_cd_stalling, vmsa, x86};

/// Addresses, tables and records a partition remembers at most.
const REMEMBERED: usize = 16;

fn remember(list: &mut Vec<u64>, value: u64) {
    if list.len() >= REMEMBERED {
        list.remove(0);
    }
    list.push(value);
}

impl<P: Platform> World<'_, P> {
    /// Guest-physical bases of the other partitions' RAM.
    fn other_bases(&self, slot: usize) -> Vec<u64> {
        self.slots
            .iter()
            .enumerate()
            .filter(|&(s, _)| s != slot)
            .filter_map(|(_, s)| match &s.state {
                State::Live(p) | State::Kept(p) => Some(p.guest.ram.ram.guest),
                State::Empty => None,
            })
            .collect()
    }

    /// Maps one page in one of the partition's stage-1 tables.
    pub(super) fn map_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let others = self.other_bases(slot);
        let Some(part) = self.live(slot) else {
            return Ok(());
        };
        let ram = part.guest.ram.ram;
        let root = match input.pick(&part.roots) {
            Some(root) if !input.chance(24) => root,
            _ => match part.guest.try_page() {
                Some(root) => {
                    remember(&mut part.roots, root);
                    root
                }
                None => return Ok(()),
            },
        };
        let bits = if P::ARM { 39 } else { 48 };
        let gva = match input.pick(&part.gvas) {
            Some(gva) if input.chance(96) => gva,
            _ => {
                let gva = input.u64() & ((1 << bits) - 1) & !0xfff;
                remember(&mut part.gvas, gva);
                gva
            }
        };
        let page = (input.u32() as u64 % (ram.size / 4096)) * 4096;
        let gpa = match input.below(8) {
            0..=3 => ram.guest + page,
            4 => input.pick(&others).unwrap_or(ram.guest) + page,
            5 => TABLE_WINDOW_BASE + page,
            6 => input.pick(&part.roots).unwrap_or(ram.guest),
            _ => input.u64() & x86::ADDRESS,
        };
        let odd = input.chance(32);
        let bits = if odd { input.u64() & !x86::ADDRESS } else { 0 };
        if P::ARM {
            let extra = if odd { bits & !vmsa::ADDRESS } else { 0 };
            let _ = VmsaTable { root }.try_map(&mut part.guest, gva, gpa, extra);
        } else {
            let flags = if odd { bits } else { x86::TABLE };
            let _ = X86Table { root }.try_map(&mut part.guest, gva, gpa, flags);
        }
        Ok(())
    }

    /// A root of the partition's (new or known) with one to three pages
    /// of its RAM mapped at new addresses: the root.
    pub(super) fn map_some(&mut self, slot: usize, input: &mut Input<'_>) -> Option<u64> {
        let part = self.live(slot)?;
        let root = match input.pick(&part.roots) {
            Some(root) if input.bool() => root,
            _ => {
                let root = part.guest.try_page()?;
                remember(&mut part.roots, root);
                root
            }
        };
        let ram = part.guest.ram.ram;
        let bits = if P::ARM { 39 } else { 48 };
        for _ in 0..1 + input.below(3) {
            let gva = input.u64() & ((1 << bits) - 1) & !0xfff;
            let gpa = ram.guest + (input.u32() as u64 % (ram.size / 4096)) * 4096;
            let mapped = if P::ARM {
                VmsaTable { root }.try_map(&mut part.guest, gva, gpa, 0)
            } else {
                X86Table { root }.try_map(&mut part.guest, gva, gpa, x86::TABLE)
            };
            if mapped.is_some() {
                remember(&mut part.gvas, gva);
            }
        }
        Some(root)
    }

    /// Writes a table entry, a word, or raw bytes somewhere in the
    /// partition's RAM.
    pub(super) fn scribble_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let Some(part) = self.live(slot) else {
            return Ok(());
        };
        let ram = part.guest.ram.ram;
        let used = part.guest.next_page - ram.guest;
        let tables: Vec<u64> = part.roots.iter().chain(&part.cd_tables).copied().collect();
        match input.below(4) {
            0 => {
                // An entry pointing at a table of its own (cycles), a page
                // of its RAM, or anywhere.
                let table = input.pick(&tables).unwrap_or(ram.guest);
                let at = table + 8 * input.below(256) as u64;
                let target = match input.below(3) {
                    0 => input.pick(&tables).unwrap_or(ram.guest),
                    1 => ram.guest + (input.u32() as u64 % used.max(1)),
                    _ => input.u64(),
                };
                let low = if P::ARM {
                    vmsa::VALID | vmsa::TABLE
                } else {
                    x86::TABLE
                };
                let entry = (target & x86::ADDRESS) | low | u64::from(input.u8() & 0x80);
                let _ = part.guest.ram.write(at, &entry.to_le_bytes());
            }
            1 => {
                let at = ram.guest + input.u32() as u64 % used.max(1);
                let len = input.below(32);
                let bytes = input.bytes(len);
                let _ = part.guest.ram.write(at, bytes);
            }
            2 => {
                // The ring's header: a wild consumer, or producer.
                if let Some(&ring) = part.rings.last() {
                    let at = ring + 4 * input.below(4) as u64;
                    let _ = part.guest.ram.write(at, &input.u32().to_le_bytes());
                }
            }
            _ => {
                let at = (ram.guest + u64::from(input.u32()) % used.max(1)) & !7;
                let _ = part.guest.ram.write(at, &input.u64().to_le_bytes());
            }
        }
        Ok(())
    }

    /// Writes a CD (or a level-1 descriptor) into one of the partition's
    /// CD tables.
    pub(super) fn cd_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let Some(part) = self.live(slot) else {
            return Ok(());
        };
        let table = match input.pick(&part.cd_tables) {
            Some(t) if !input.chance(32) => t,
            _ => match part.guest.try_page() {
                Some(t) => {
                    remember(&mut part.cd_tables, t);
                    t
                }
                None => return Ok(()),
            },
        };
        let index = input.below(64) as u64;
        match input.below(4) {
            0..=1 => {
                let root = input.pick(&part.roots).unwrap_or(part.guest.ram.ram.guest);
                let cd = guest_cd_stalling(root, input.u16(), input.bool());
                let _ = part.guest.ram.write(table + 64 * index, &cd);
            }
            2 => {
                // A level-1 descriptor to a new leaf table.
                if let Some(leaf) = part.guest.try_page() {
                    remember(&mut part.cd_tables, leaf);
                    let _ = part
                        .guest
                        .ram
                        .write(table + 8 * index, &(leaf | 1).to_le_bytes());
                }
            }
            _ => {
                let len = input.below(64);
                let bytes = input.bytes(len);
                let _ = part.guest.ram.write(table + 64 * index, bytes);
            }
        }
        Ok(())
    }

    /// The kernel's time slice: time passes, the units are polled, every
    /// partition's events delivered (and checked).
    pub(super) fn slice_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let shift = 6 * input.below(6);
        self.now = self.now.saturating_add(u64::from(input.u16()) << shift);
        self.sva.poll(self.now);
        for slot in 0..self.slots.len() {
            self.deliver(slot)?;
        }
        Ok(())
    }

    /// The guest reads records from its ring, writes its consumer index
    /// (a wild one now and then), and may answer one of them.
    pub(super) fn consume_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let State::Live(part) = &mut self.slots[slot].state else {
            return Ok(());
        };
        let Some((base, entries)) = self.sva.event_ring(part.id) else {
            return Ok(());
        };
        let mut producer = [0u8; 4];
        if part.guest.ram.read(base, &mut producer).is_err() {
            return Ok(());
        }
        let producer = u32::from_le_bytes(producer);
        let waiting = producer.wrapping_sub(part.consumer).min(entries).min(4);
        part.consumer = producer.wrapping_sub(producer.wrapping_sub(part.consumer).min(entries));
        for _ in 0..waiting {
            let at = base + EVENT_RECORD_SIZE * (u64::from(part.consumer % entries) + 1);
            let mut bytes = [0u8; EventRecord::SIZE];
            if part.guest.ram.read(at, &mut bytes).is_ok() {
                if part.records.len() >= REMEMBERED {
                    part.records.remove(0);
                }
                part.records.push(EventRecord::decode(&bytes));
            }
            part.consumer = part.consumer.wrapping_add(1);
        }
        let consumer = if input.chance(16) {
            input.u32()
        } else {
            part.consumer
        };
        let _ = part.guest.ram.write(base + 4, &consumer.to_le_bytes());
        let record = input.pick(&part.records);
        if let Some(record) = record.filter(|_| input.chance(160)) {
            let code = if input.chance(200) {
                input.below(3) as u32
            } else {
                input.u32()
            };
            self.respond(slot, &record, code, input)?;
        }
        Ok(())
    }

    /// Routed faults checked, or an SMMU's external aborts / event flood.
    pub(super) fn faults_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        if input.bool() {
            return self.check_faults();
        }
        let mut targets = Vec::new();
        for slot in &self.slots {
            if let State::Live(p) = &slot.state {
                let ram = p.guest.ram.ram;
                let host = |gpa: &u64| ram.host_address(*gpa, 1);
                targets.extend(p.roots.iter().chain(&p.cd_tables).filter_map(host));
                targets.extend(p.stage2.placed().iter().map(|&(_, pa, _)| pa));
            }
        }
        let unit = input.below(2);
        let rid = self.any_requester(unit, input);
        self.platform.extra(unit, input.u8(), &targets, rid);
        Ok(())
    }

    /// A partition removed, or made again in an empty slot.
    pub(super) fn lifecycle_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let slot = input.below(self.slots.len());
        match self.slots[slot].state {
            State::Live(_) if input.chance(96) => self.remove(slot),
            State::Empty => self.create(slot),
            _ => Ok(()),
        }
    }
}
