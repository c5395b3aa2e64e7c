//! Host rigs for the service (feature `sim`): a partition's RAM in the
//! drivers' simulated memory, a guest that calls the service the way a
//! guest kernel does (structs in its RAM, by guest-physical address), guest
//! page tables and CD tables written into that RAM (`tables`), and the
//! VT-d and SMMUv3 models with their drivers under the service (`vtd`,
//! `smmu`). The host tests and the fuzz harness ([`crate::fuzz`]) share
//! them.

pub mod smmu;
pub mod tables;
pub mod vtd;

use alloc::rc::Rc;
use alloc::vec;

use vsva_abi::sva::SvaStruct;
use vsva_abi::{Call, HvError};
use vsva_iommu::hw::DmaMemory;
use vsva_iommu::hw::sim::{SimClock, SimMemory};

use crate::backend::{Backend, DeviceInfo, Stage2Tables};
use crate::guest::{GuestMemory, GuestRam, OutsideRam};
use crate::{HostDevice, PartitionId, Sva};

/// Where guest RAM starts, guest-physical.
pub const GUEST_BASE: u64 = 0x4000_0000;
/// Simulated physical memory: tables from 1 MiB, up to 1 GiB.
pub const SIM_BASE: u64 = 0x10_0000;
pub const SIM_LIMIT: u64 = 0x4000_0000;

/// The owner tag (`SimMemory::set_owner`) of what the kernel allocates for
/// a partition: its RAM and its stage-2 tables (including what the service
/// asks it to map in the table window), told apart from what the service
/// and the units take.
pub const KERNEL: u32 = u32::MAX;

/// What a rig gives a partition: `pages` of RAM at guest-physical `base`,
/// a PASID quota, a shadow budget in pages.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub id: PartitionId,
    pub base: u64,
    pub pages: usize,
    pub quota: u32,
    pub budget: usize,
}

impl Layout {
    /// Quota 4, budget 256.
    pub fn new(id: PartitionId, base: u64, pages: usize) -> Self {
        Self {
            id,
            base,
            pages,
            quota: 4,
            budget: 256,
        }
    }
}

/// A device on unit 0: its host requester (or stream) ID, the ID the
/// partition's window shows, its capabilities.
pub fn device(rid: u32, virtual_id: u32, info: DeviceInfo) -> HostDevice {
    HostDevice {
        unit: 0,
        rid,
        virtual_id,
        info,
    }
}

/// A device with PASIDs of `pasid_bits` bits (0: none).
pub fn pasids(pasid_bits: u8) -> DeviceInfo {
    DeviceInfo {
        pasid_bits,
        ..Default::default()
    }
}

/// A partition's RAM: `pages` frames of simulated memory at a guest base.
#[derive(Debug, Clone)]
pub struct Ram {
    pub mem: Rc<SimMemory>,
    pub ram: GuestRam,
    pub guest_base: u64,
}

impl Ram {
    /// `pages` (a power of two) of `mem` at guest-physical `guest_base`.
    pub fn new(mem: &Rc<SimMemory>, pages: usize, guest_base: u64) -> Self {
        Self::try_new(mem, pages, guest_base).expect("guest RAM")
    }

    /// The same, `None` when `mem` has no room.
    pub fn try_new(mem: &Rc<SimMemory>, pages: usize, guest_base: u64) -> Option<Self> {
        let host = mem.alloc_pages(pages)?;
        Some(Self {
            mem: Rc::clone(mem),
            ram: GuestRam {
                guest: guest_base,
                host,
                size: pages as u64 * 4096,
            },
            guest_base,
        })
    }

    /// Gives the frames back to the memory.
    pub fn free(self) {
        self.mem
            .free_pages(self.ram.host, (self.ram.size / 4096) as usize);
    }

    /// The host address behind guest-physical `gpa`.
    pub fn host(&self, gpa: u64) -> u64 {
        self.ram.host_address(gpa, 1).expect("inside RAM")
    }

    pub fn write_u64(&mut self, gpa: u64, value: u64) {
        self.write(gpa, &value.to_le_bytes()).unwrap();
    }

    pub fn read_u64(&self, gpa: u64) -> u64 {
        self.try_read_u64(gpa).unwrap()
    }

    pub fn try_read_u64(&self, gpa: u64) -> Result<u64, OutsideRam> {
        let mut b = [0; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn byte(&self, gpa: u64) -> u8 {
        let mut b = [0];
        self.read(gpa, &mut b).unwrap();
        b[0]
    }

    /// A checksum of the whole RAM (to show it did not change).
    pub fn checksum(&self) -> u64 {
        let mut buf = vec![0u8; self.ram.size as usize];
        self.mem.read(self.ram.host, &mut buf);
        buf.iter()
            .enumerate()
            .fold(0u64, |h, (i, &b)| h.rotate_left(5) ^ (b as u64) ^ i as u64)
    }
}

impl Ram {
    /// The host address of guest-physical `[gpa, gpa + len)`, wholly RAM.
    fn inside(&self, gpa: u64, len: usize) -> Result<u64, OutsideRam> {
        let len = len as u64;
        self.ram
            .host_address(gpa, len)
            .ok_or(OutsideRam { gpa, len })
    }
}

impl GuestMemory for Ram {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam> {
        self.mem.read(self.inside(gpa, buf.len())?, buf);
        Ok(())
    }

    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        self.mem.write(self.inside(gpa, bytes.len())?, bytes);
        Ok(())
    }
}

/// A guest making calls: its RAM, a scratch page for argument structs.
#[derive(Debug)]
pub struct Guest {
    pub id: PartitionId,
    pub ram: Ram,
    /// Guest-physical address the structs are written to.
    pub scratch: u64,
    /// Next free guest-physical page for tables.
    pub next_page: u64,
}

impl Guest {
    pub fn new(id: PartitionId, ram: Ram) -> Self {
        let base = ram.guest_base;
        Self {
            id,
            ram,
            scratch: base,
            next_page: base + 0x1000,
        }
    }

    /// A zeroed page of guest RAM; its guest-physical address.
    pub fn page(&mut self) -> u64 {
        self.try_page().expect("the guest's RAM is full")
    }

    /// The same, `None` when the RAM is used up.
    pub fn try_page(&mut self) -> Option<u64> {
        let gpa = self.next_page;
        if !self.ram.ram.contains(gpa, 0x1000) {
            return None;
        }
        self.next_page += 0x1000;
        self.ram.write(gpa, &[0; 4096]).ok()?;
        Some(gpa)
    }

    /// Writes `value` to the scratch page, calls, and reads it back.
    pub fn call<T: SvaStruct, U: Backend>(
        &mut self,
        sva: &mut Sva<U>,
        stage2: &mut dyn Stage2Tables,
        call: Call,
        value: &T,
    ) -> (Result<u64, HvError>, T) {
        let mut bytes = vec![0u8; T::SIZE];
        value.encode(&mut bytes);
        self.ram.write(self.scratch, &bytes).unwrap();
        let result = sva.call(self.id, call, self.scratch, &mut self.ram, stage2);
        self.ram.read(self.scratch, &mut bytes).unwrap();
        (result, T::decode(&bytes))
    }

    /// Calls with raw bytes at `gpa` (hostile layouts).
    pub fn call_raw<U: Backend>(
        &mut self,
        sva: &mut Sva<U>,
        stage2: &mut dyn Stage2Tables,
        call: Call,
        gpa: u64,
        bytes: &[u8],
    ) -> Result<u64, HvError> {
        if !bytes.is_empty() {
            self.ram.write(gpa, bytes).unwrap();
        }
        sva.call(self.id, call, gpa, &mut self.ram, stage2)
    }
}

/// The clock the drivers bound their waits with.
pub fn clock() -> SimClock {
    SimClock::new(1_000)
}

/// Simulated memory for a rig.
pub fn memory() -> Rc<SimMemory> {
    Rc::new(SimMemory::new(SIM_BASE, SIM_LIMIT))
}
