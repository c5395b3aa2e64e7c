//! vSVA calls as a guest makes them: a struct (`args`) laid out with the
//! right size or a wrong one, in the scratch page or across the end of RAM
//! or outside it, the call made with what the service allocates tagged as
//! the caller's. After a call whose struct the service read as built, what
//! it answered is checked against what the caller owns, and nothing past
//! the struct may have changed.

use alloc::format;
use alloc::vec::Vec;

use vsva_abi::sva::{
    EventRecord, MAX_STRUCT_SIZE, PageResponse, Pasid, RecordFlags, ResponseFlags, SvaStruct,
};
use vsva_abi::{CALLS, Call, HvError};

use super::Violation;
use super::args::{Built, encode};
use super::input::Input;
use super::platform::Platform;
use super::world::{State, World};
use crate::PartitionId;
use crate::guest::GuestMemory;

/// The PASIDs before a call: the caller's, and how many are held at all.
#[derive(Debug)]
struct Held {
    id: PartitionId,
    own: Vec<u32>,
    all: usize,
}

/// Writes what of `bytes` lies in `ram` at `gpa`.
fn write_clipped(ram: &mut dyn GuestMemory, gpa: u64, bytes: &[u8]) {
    for (i, b) in bytes.iter().enumerate() {
        let _ = ram.write(gpa.wrapping_add(i as u64), core::slice::from_ref(b));
    }
}

impl<P: Platform> World<'_, P> {
    /// One vSVA call of a live partition, built from the input.
    pub(super) fn call_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let call = CALLS[5 + input.below(10)];
        let built = self.build(slot, call, input);
        self.make_call(slot, call, built, input, true)
    }

    /// What a well-behaved guest does, with well-formed structs: registers
    /// a ring, takes a PASID, maps pages and binds its table (or, on an
    /// SMMU, a CD table of its own), invalidates what it mapped.
    pub(super) fn setup_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        match self.well_formed(slot, input) {
            Some((call, built)) => self.make_call(slot, call, built, input, false),
            None => Ok(()),
        }
    }

    /// Raw bytes at a raw address, as any call (the non-vSVA ones must be
    /// unknown to the service).
    pub(super) fn raw_call_step(&mut self, input: &mut Input<'_>) -> Result<(), Violation> {
        let Some(slot) = self.pick_live(input) else {
            return Ok(());
        };
        let call = CALLS[input.below(CALLS.len())];
        let len = input.below(64);
        let built = Built {
            bytes: input.bytes(len).to_vec(),
            ..Built::default()
        };
        self.make_call(slot, call, built, input, true)
    }

    /// Answers `record` (one `slot` read from its ring) with `code`.
    pub(super) fn respond(
        &mut self,
        slot: usize,
        record: &EventRecord,
        code: u32,
        input: &mut Input<'_>,
    ) -> Result<(), Violation> {
        let flags = RecordFlags::from_bits_truncate(record.flags);
        let mut response = ResponseFlags::empty();
        response.set(ResponseFlags::PASID, flags.contains(RecordFlags::PASID));
        response.set(ResponseFlags::STALL, record.kind == 4);
        let args = PageResponse {
            size: PageResponse::SIZE as u32,
            device: record.device,
            flags: response.bits(),
            pasid: record.pasid,
            group: record.group,
            code,
        };
        let built = Built {
            bytes: encode(&args),
            device: Some(record.device),
            ..Built::default()
        };
        self.make_call(slot, Call::PageResponse, built, input, false)
    }

    /// Lays `built` out (its size and address from the input), calls, and
    /// checks the answer.
    fn make_call(
        &mut self,
        slot: usize,
        call: Call,
        mut built: Built,
        input: &mut Input<'_>,
        hostile: bool,
    ) -> Result<(), Violation> {
        self.taint(slot);
        let size_choice = if hostile { input.below(16) } else { 0 };
        let known = built.bytes.len().max(4);
        built.bytes.resize(known, 0);
        let size = match size_choice {
            0..=10 => known as u32,
            11 => 0,
            12 => input.below(known) as u32,
            13 | 14 => {
                let size = known + 8 * (1 + input.below(4));
                built.bytes.resize(size, 0);
                if size_choice == 14 {
                    built.bytes[size - 1] = 1 | input.u8();
                }
                size as u32
            }
            _ => input.u32(),
        };
        built.bytes[..4].copy_from_slice(&size.to_le_bytes());
        let place = if hostile { input.below(16) } else { 0 };
        let Some(State::Live(part)) = self.slots.get_mut(slot).map(|s| &mut s.state) else {
            return Ok(());
        };
        let (id, ram) = (part.id, part.guest.ram.ram);
        let at = match place {
            0..=12 => part.guest.scratch,
            13 => ram.guest + ram.size - 1 - input.below(known) as u64,
            14 => ram.guest.wrapping_sub(1 + input.below(16) as u64),
            _ => input.u64(),
        };
        write_clipped(&mut part.guest.ram, at, &built.bytes);
        // Whatever the call writes back stays within the caller's size
        // (a ring registered may start anywhere: its header is written).
        let end = built.bytes.len().max(size.min(MAX_STRUCT_SIZE) as usize);
        let canary_at = at.wrapping_add(end as u64);
        let canary = [0xc5u8; 8];
        let canary_set =
            call != Call::EventQueue && part.guest.ram.write(canary_at, &canary).is_ok();
        let intact = size_choice <= 10 && place <= 12 && call.is_sva();
        let held = Held {
            id,
            own: self.sva.pasids_of(id),
            all: self.sva.pasids_in_use(),
        };
        let result = self.tagged_call(id, slot, call, at);
        self.out.calls += 1;
        self.out.calls_ok += usize::from(result.is_ok());
        let mut after = [0u8; 8];
        if let Some(State::Live(part)) = self.slots.get(slot).map(|s| &s.state)
            && canary_set
            && (part.guest.ram.read(canary_at, &mut after).is_err() || after != canary)
        {
            return Err(self.violation(format!("{call:?} wrote past the struct at {at:#x}")));
        }
        if !call.is_sva() && result != Err(HvError::UnknownCall) {
            return Err(self.violation(format!("{call:?} of the service: {result:?}")));
        }
        if intact && result.is_ok() {
            self.check_answer(slot, call, &built, &held, at)?;
        }
        let quota = self.quota(slot);
        if self.sva.pasids_of(id).len() > quota as usize {
            return Err(self.violation(format!("partition {} over its quota", id.0)));
        }
        Ok(())
    }

    /// The call, with allocations tagged as the caller's.
    fn tagged_call(
        &mut self,
        id: PartitionId,
        slot: usize,
        call: Call,
        at: u64,
    ) -> Result<u64, HvError> {
        let before = self.mem.set_owner(id.0);
        let result = match &mut self.slots[slot].state {
            State::Live(part) => self
                .sva
                .call(id, call, at, &mut part.guest.ram, &mut part.stage2),
            _ => Err(HvError::NotFound),
        };
        self.mem.set_owner(before);
        result
    }

    /// What a successful call may have done, against what the caller owns
    /// (`held` before the call; its struct at `at`).
    fn check_answer(
        &mut self,
        slot: usize,
        call: Call,
        built: &Built,
        held: &Held,
        at: u64,
    ) -> Result<(), Violation> {
        let (id, held, all_held) = (held.id, &held.own, held.all);
        if let Some(device) = built.device
            && !self.owns(slot, device)
        {
            return Err(self.violation(format!("{call:?} on device {device:#x}, not the caller's")));
        }
        let foreign_pasid = built.pasid.is_some_and(|p| !held.contains(&p));
        match call {
            Call::PasidAlloc => {
                let mut bytes = [0u8; Pasid::SIZE];
                if let Some(State::Live(part)) = self.slots.get(slot).map(|s| &s.state) {
                    let _ = part.guest.ram.read(at, &mut bytes);
                }
                let pasid = Pasid::decode(&bytes).pasid;
                let fresh = !held.contains(&pasid) && self.sva.pasids_in_use() == all_held + 1;
                if !fresh || !self.sva.pasids_of(id).contains(&pasid) {
                    return Err(self.violation(format!("PasidAlloc gave {pasid} to {}", id.0)));
                }
            }
            Call::PasidFree | Call::BindStage1 | Call::UnbindStage1 if foreign_pasid => {
                return Err(self.violation(format!("{call:?} of PASID {:?}", built.pasid)));
            }
            Call::BindStage1 | Call::BindCdTable => self.out.binds += 1,
            Call::Invalidate => {
                if let Some(devices) = &built.entry_devices
                    && let Some(d) = devices.iter().find(|&&d| !self.owns(slot, d))
                {
                    return Err(self.violation(format!("an invalidation on device {d:#x}")));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn quota(&self, slot: usize) -> u32 {
        self.slots[slot].spec.quota
    }
}
