//! Host rigs for the service: a partition's RAM in simulated memory, a
//! guest that calls the service the way a guest kernel does (structs in its
//! RAM, by guest-physical address), guest page tables and CD tables written
//! by hand into that RAM; the VT-d and SMMUv3 models with their drivers
//! (`vtd`, `smmu`), and the calls' structs and helpers both share (`calls`).
//! Every test file includes all of it and uses a part (hence `dead_code`).
#![allow(dead_code)]

pub mod calls;
pub mod events;
pub mod smmu;
pub mod vtd;

use std::rc::Rc;

use vsva_abi::sva::{SvaStruct, TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE};
use vsva_abi::{Call, HvError};
use vsva_iommu::hw::DmaMemory;
use vsva_iommu::hw::sim::{SimClock, SimMemory};
use vsva_iommu::smmuv3::pagetable::{Attributes, Granule, MemoryType, Permissions, Stage2Table};
use vsva_sva::backend::{Backend, DeviceInfo, Stage2Desc, Stage2Tables};
use vsva_sva::guest::{GuestMemory, GuestRam, OutsideRam};
use vsva_sva::{HostDevice, PartitionId, Sva};

/// Where guest RAM starts, guest-physical.
pub const GUEST_BASE: u64 = 0x4000_0000;
/// Simulated physical memory: tables from 1 MiB, up to 1 GiB.
pub const SIM_BASE: u64 = 0x10_0000;
pub const SIM_LIMIT: u64 = 0x4000_0000;

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

/// A partition's RAM: `pages` frames of simulated memory at GUEST_BASE.
#[derive(Debug, Clone)]
pub struct Ram {
    pub mem: Rc<SimMemory>,
    pub ram: GuestRam,
    pub guest_base: u64,
}

impl Ram {
    pub fn new(mem: &Rc<SimMemory>, pages: usize, guest_base: u64) -> Self {
        let host = mem.alloc_pages(pages).expect("guest RAM");
        Self {
            mem: Rc::clone(mem),
            ram: GuestRam {
                guest: guest_base,
                host,
                size: pages as u64 * 4096,
            },
            guest_base,
        }
    }

    /// The host address behind guest-physical `gpa`.
    pub fn host(&self, gpa: u64) -> u64 {
        self.ram.host_address(gpa, 1).expect("inside RAM")
    }

    pub fn write_u64(&mut self, gpa: u64, value: u64) {
        self.write(gpa, &value.to_le_bytes()).unwrap();
    }

    pub fn read_u64(&self, gpa: u64) -> u64 {
        let mut b = [0; 8];
        self.read(gpa, &mut b).unwrap();
        u64::from_le_bytes(b)
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

impl GuestMemory for Ram {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam> {
        let host = self
            .ram
            .host_address(gpa, buf.len() as u64)
            .ok_or(OutsideRam {
                gpa,
                len: buf.len() as u64,
            })?;
        self.mem.read(host, buf);
        Ok(())
    }

    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        let host = self
            .ram
            .host_address(gpa, bytes.len() as u64)
            .ok_or(OutsideRam {
                gpa,
                len: bytes.len() as u64,
            })?;
        self.mem.write(host, bytes);
        Ok(())
    }
}

/// A partition's VMSAv8 stage 2 in simulated memory: its RAM mapped, and
/// what the service places in the table window mapped read-only.
#[derive(Debug)]
pub struct ArmStage2 {
    pub table: Stage2Table,
    pub mem: Rc<SimMemory>,
    /// (ipa, pa, len) the service asked for.
    pub placed: Vec<(u64, u64, u64)>,
}

pub fn normal(permissions: Permissions) -> Attributes {
    Attributes {
        permissions,
        memory: MemoryType::Normal,
        privileged_only: false,
    }
}

impl ArmStage2 {
    pub fn new(mem: &Rc<SimMemory>, ram: &GuestRam) -> Self {
        let mut table = Stage2Table::new(&**mem, Granule::Size4K, 40, 40).unwrap();
        table
            .map(
                &**mem,
                ram.guest,
                ram.host,
                ram.size,
                normal(Permissions::READ | Permissions::WRITE),
            )
            .unwrap()
            .finish(&**mem);
        Self {
            table,
            mem: Rc::clone(mem),
            placed: Vec::new(),
        }
    }

    pub fn desc(&self) -> Stage2Desc {
        Stage2Desc::Vmsa {
            fields: self.table.ste_fields(true),
            ipa_bits: 40,
        }
    }
}

impl Stage2Tables for ArmStage2 {
    fn map_read_only(&mut self, ipa: u64, pa: u64, len: u64) -> bool {
        assert!(
            ipa >= TABLE_WINDOW_BASE && ipa + len <= TABLE_WINDOW_BASE + TABLE_WINDOW_SIZE,
            "outside the table window"
        );
        let ok = self
            .table
            .map(&*self.mem, ipa, pa, len, normal(Permissions::READ))
            .map(|inv| inv.finish(&*self.mem))
            .is_ok();
        if ok {
            self.placed.push((ipa, pa, len));
        }
        ok
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
        let gpa = self.next_page;
        self.next_page += 0x1000;
        assert!(
            self.ram.ram.contains(gpa, 0x1000),
            "the guest's RAM is full"
        );
        self.ram.write(gpa, &[0; 4096]).unwrap();
        gpa
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

/// x86 paging entry bits (Intel SDM Vol. 3A §4.5; VT-d §9.7).
pub mod x86 {
    pub const P: u64 = 1;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const PS: u64 = 1 << 7;
    pub const XD: u64 = 1 << 63;
    /// Present, writable, user: what a device's table entries need.
    pub const TABLE: u64 = P | RW | US;
}

/// An x86 4-level table the guest writes into its own RAM.
#[derive(Debug, Clone, Copy)]
pub struct X86Table {
    pub root: u64,
}

impl X86Table {
    pub fn new(guest: &mut Guest) -> Self {
        Self { root: guest.page() }
    }

    /// Maps 4 KiB page `gva` to `gpa` with leaf `flags` (tables as needed).
    pub fn map(&self, guest: &mut Guest, gva: u64, gpa: u64, flags: u64) {
        let mut table = self.root;
        for level in (2..=4).rev() {
            let index = (gva >> (12 + 9 * (level - 1))) & 511;
            let at = table + index * 8;
            let entry = guest.ram.read_u64(at);
            table = if entry & x86::P == 0 {
                let next = guest.page();
                guest.ram.write_u64(at, next | x86::TABLE);
                next
            } else {
                entry & 0x000f_ffff_ffff_f000
            };
        }
        guest
            .ram
            .write_u64(table + ((gva >> 12) & 511) * 8, gpa | flags);
    }

    /// The entry of `gva` at `level` (1 = PTE), for tests to overwrite.
    pub fn entry_address(&self, guest: &Guest, gva: u64, level: u32) -> u64 {
        let mut table = self.root;
        for l in (level + 1..=4).rev() {
            let index = (gva >> (12 + 9 * (l - 1))) & 511;
            table = guest.ram.read_u64(table + index * 8) & 0x000f_ffff_ffff_f000;
        }
        table + ((gva >> (12 + 9 * (level - 1))) & 511) * 8
    }
}

/// VMSAv8-64 stage-1 descriptors, 4 KiB granule (Arm ARM D8.3).
pub mod vmsa {
    pub const VALID: u64 = 1;
    pub const TABLE: u64 = 1 << 1;
    pub const PAGE: u64 = 1 << 1;
    /// AttrIndx 0 (MAIR attr0), inner shareable, access flag, not global
    /// (nG: the TLB entry belongs to the CD's ASID only).
    pub const NORMAL: u64 = (0b11 << 8) | (1 << 10) | (1 << 11);
    /// AP[2]: read-only.
    pub const RO: u64 = 1 << 7;
    /// MAIR: attr0 normal write-back.
    pub const MAIR: u64 = 0xff;
    /// IRGN0 / ORGN0 write-back, SH0 inner.
    pub const WALK: u32 = 0b11_01_01;
}

/// A VMSAv8 4 KiB-granule stage-1 table of 39 input bits (3 levels), in the
/// guest's RAM.
#[derive(Debug, Clone, Copy)]
pub struct VmsaTable {
    pub root: u64,
}

impl VmsaTable {
    pub fn new(guest: &mut Guest) -> Self {
        Self { root: guest.page() }
    }

    pub fn map(&self, guest: &mut Guest, va: u64, ipa: u64, extra: u64) {
        let mut table = self.root;
        for level in 1..=2 {
            let index = (va >> (39 - 9 * level)) & 511;
            let at = table + index * 8;
            let entry = guest.ram.read_u64(at);
            table = if entry & vmsa::VALID == 0 {
                let next = guest.page();
                guest.ram.write_u64(at, next | vmsa::VALID | vmsa::TABLE);
                next
            } else {
                entry & 0x0000_ffff_ffff_f000
            };
        }
        let leaf = ipa | vmsa::VALID | vmsa::PAGE | vmsa::NORMAL | extra;
        guest.ram.write_u64(table + ((va >> 12) & 511) * 8, leaf);
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
