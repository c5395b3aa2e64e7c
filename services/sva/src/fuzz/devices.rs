//! What devices do: DMA (reads, writes, translations) by every requester
//! of both units, assigned or not, with and without PASIDs, at the
//! addresses the guests mapped, at guest-physical addresses, in the table
//! window, anywhere; and page requests. Every DMA that completes is
//! checked against its owner's memory.

use alloc::format;
use alloc::vec::Vec;

use vsva_abi::sva::TABLE_WINDOW_BASE;

use super::Violation;
use super::input::Input;
use super::platform::{Access, Platform};
use super::world::{STRAY, State, World};
use crate::backend::UnitRequest;
use crate::guest::GuestRam;

impl<P: Platform> World<'_, P> {
    /// A requester of `unit`: one a slot has there, or the stray one.
    pub(super) fn any_requester(&self, unit: usize, input: &mut Input<'_>) -> u32 {
        let rids: Vec<u32> = self
            .slots
            .iter()
            .flat_map(|s| &s.spec.devices)
            .filter(|d| d.unit == unit)
            .map(|d| d.rid)
            .chain([STRAY])
            .collect();
        input.pick(&rids).unwrap_or(STRAY)
    }

    /// A PASID for a device to use: none, one some partition holds, a small
    /// one, any.
    fn device_pasid(&self, input: &mut Input<'_>) -> Option<u32> {
        let held: Vec<u32> = self
            .slots
            .iter()
            .filter_map(|s| match &s.state {
                State::Live(p) => Some(p.id),
                _ => None,
            })
            .flat_map(|id| self.sva.pasids_of(id))
            .collect();
        match input.below(8) {
            0..=2 => None,
            3..=5 => Some(input.pick(&held).unwrap_or(1)),
            6 => Some(input.below(16) as u32),
            _ => Some(input.u32() & 0xf_ffff),
        }
    }

    /// An address for a device to use.
    fn device_address(&self, input: &mut Input<'_>) -> u64 {
        let mut gvas = Vec::new();
        let mut rams = Vec::new();
        for s in &self.slots {
            if let State::Live(p) | State::Kept(p) = &s.state {
                gvas.extend(&p.gvas);
                rams.push(p.guest.ram.ram);
            }
        }
        let offset = input.u16() as u64;
        match input.below(8) {
            0..=3 => input.pick(&gvas).unwrap_or(0) + (offset & 0xfff),
            4 | 5 => input
                .pick(&rams)
                .map_or(0, |r| r.guest + offset * 8 % r.size),
            6 => TABLE_WINDOW_BASE + offset * 8,
            _ => input.u64() >> input.below(64),
        }
    }

    /// A device of some slot (its unit and requester), or the stray one
    /// of a unit; with the addresses its owner mapped, if any.
    fn any_device(&self, input: &mut Input<'_>) -> (usize, u32, Vec<u64>, Option<GuestRam>) {
        let devices: Vec<(usize, usize, u32)> = self
            .slots
            .iter()
            .enumerate()
            .flat_map(|(s, slot)| slot.spec.devices.iter().map(move |d| (s, d.unit, d.rid)))
            .collect();
        match input.pick(&devices).filter(|_| !input.chance(24)) {
            Some((slot, unit, rid)) => match &self.slots[slot].state {
                State::Live(p) | State::Kept(p) => {
                    (unit, rid, p.gvas.clone(), Some(p.guest.ram.ram))
                }
                State::Empty => (unit, rid, Vec::new(), None),
            },
            None => (input.below(2), STRAY, Vec::new(), None),
        }
    }

    /// One DMA, checked where it landed.
    pub(super) fn dma_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let (unit, rid, gvas, ram) = self.any_device(input);
        let pasid = self.device_pasid(input);
        let offset = u64::from(input.u16() & 0xfff);
        let iova = match (input.below(4), ram) {
            (0 | 1, _) if !gvas.is_empty() => input.pick(&gvas).unwrap_or(0) + offset,
            (2, Some(ram)) => ram.guest + (u64::from(input.u32()) % ram.size),
            _ => self.device_address(input),
        };
        let long = input.chance(32);
        let len = 1 + input.below(if long { 256 } else { 16 }) * 32;
        let mut data: Vec<u8> = input.bytes(len).to_vec();
        data.resize(len, 0xa5);
        let access = match input.below(4) {
            0 => Access::Read,
            1 | 2 => Access::Write,
            _ => Access::Translate {
                write: input.bool(),
            },
        };
        self.out.dma += 1;
        if let Some(landed) = self.platform.dma(unit, rid, pasid, iova, &data, access) {
            self.out.dma_ok += 1;
            self.check_landed(unit, rid, &landed)?;
            self.check_pasid(unit, rid, pasid)?;
        }
        Ok(())
    }

    /// On VT-d a DMA with a PASID completes only through an entry the
    /// owner set up: it must hold the PASID (0 is RID_PASID, the requests
    /// without one). An injected error may leave an entry behind, so a
    /// partition one reached is not held to it. (On an SMMU a guest CD
    /// table's SubstreamIDs are the guest's own.)
    fn check_pasid(&self, unit: usize, rid: u32, pasid: Option<u32>) -> Result<(), Violation> {
        let Some(p) = pasid.filter(|&p| p != 0 && !P::ARM) else {
            return Ok(());
        };
        let owner = self.slots.iter().find_map(|s| match &s.state {
            State::Live(part)
                if s.spec
                    .devices
                    .iter()
                    .any(|d| d.unit == unit && d.rid == rid) =>
            {
                Some(part)
            }
            _ => None,
        });
        match owner {
            Some(part) if !part.tainted && !self.sva.pasids_of(part.id).contains(&p) => {
                Err(self.violation(format!(
                    "unit {unit} requester {rid:#x} of partition {} went through PASID {p}, not its",
                    part.id.0
                )))
            }
            _ => Ok(()),
        }
    }

    /// A page request by some device.
    pub(super) fn request_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let unit = input.below(2);
        let rid = self.any_requester(unit, input);
        let pasid = self.device_pasid(input);
        let address = self.device_address(input) & !0xfff;
        let bits = input.u8();
        let request = UnitRequest {
            requester: rid,
            pasid,
            address,
            read: bits & 1 != 0,
            write: bits & 2 != 0,
            exec: bits & 4 != 0,
            privileged: bits & 8 != 0,
            last: bits & 0x30 != 0,
            group: input.u16() & if bits & 0x40 != 0 { 0xffff } else { 0x1ff },
            stall: false,
            private: None,
        };
        if self.platform.page_request(unit, &request) {
            self.out.requests += 1;
        }
        Ok(())
    }
}
