//! SMMUv1 and SMMUv2 nodes and their interrupt arrays (IORT §3.1.3).

use core::mem::size_of;

use bitflags::bitflags;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::node::{Node, NodeHeader, relocate};
use crate::acpi::AcpiError;
use crate::acpi::sdt::read_slice;

#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct SmmuV1V2Raw {
    header: NodeHeader,
    base_address: U64,
    span: U64,
    model: U32,
    flags: U32,
    global_interrupt_offset: U32,
    context_interrupt_count: U32,
    context_interrupt_offset: U32,
    pmu_interrupt_count: U32,
    pmu_interrupt_offset: U32,
}
const _: () = assert!(size_of::<SmmuV1V2Raw>() == 60);

/// One SMMUv1/v2 interrupt: GSIV and flags (IORT §3.1.3, Table 20).
#[derive(Debug, Clone, Copy, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SmmuInterrupt {
    gsiv: U32,
    flags: U32,
}
const _: () = assert!(size_of::<SmmuInterrupt>() == 8);

bitflags! {
    /// SMMUv1/v2 interrupt flags (IORT §3.1.3, Table 20).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SmmuInterruptFlags: u32 {
        /// Edge-triggered (level-triggered when clear).
        const EDGE_TRIGGERED = 1 << 0;
    }
}

impl SmmuInterrupt {
    /// The interrupt's GSIV.
    pub fn gsiv(&self) -> u32 {
        self.gsiv.get()
    }
    /// Its flags.
    pub fn flags(&self) -> SmmuInterruptFlags {
        SmmuInterruptFlags::from_bits_retain(self.flags.get())
    }
}

bitflags! {
    /// SMMUv1/v2 Flags (IORT §3.1.3, Table 19).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct SmmuV1V2Flags: u32 {
        /// DVM: the SMMU supports broadcast TLB maintenance.
        const DVM_SUPPORTED = 1 << 0;
        /// The page table walker is cache coherent.
        const COHERENT_PAGE_TABLE_WALK = 1 << 1;
    }
}

/// SMMUv1/v2 Model values (IORT §3.1.3, Table 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmmuV1V2Model {
    /// 0: generic SMMUv1.
    GenericV1,
    /// 1: generic SMMUv2.
    GenericV2,
    /// 2: Arm CoreLink MMU-400.
    Mmu400,
    /// 3: Arm CoreLink MMU-500.
    Mmu500,
    /// 4: Arm CoreLink MMU-401.
    Mmu401,
    /// 5: Cavium ThunderX SMMUv2.
    CaviumThunderXV2,
    /// Any other value.
    Unknown(u32),
}

impl From<u32> for SmmuV1V2Model {
    fn from(v: u32) -> Self {
        match v {
            0 => Self::GenericV1,
            1 => Self::GenericV2,
            2 => Self::Mmu400,
            3 => Self::Mmu500,
            4 => Self::Mmu401,
            5 => Self::CaviumThunderXV2,
            other => Self::Unknown(other),
        }
    }
}

/// SMMUv1/SMMUv2 node (IORT §3.1.3, Table 19).
#[derive(Debug, Clone, Copy)]
pub struct SmmuV1V2<'a> {
    pub(super) node: Node<'a>,
    pub(super) raw: &'a SmmuV1V2Raw,
}

impl<'a> SmmuV1V2<'a> {
    /// The generic node.
    pub fn node(&self) -> Node<'a> {
        self.node
    }
    /// Physical base address of the SMMU's registers.
    pub fn base_address(&self) -> u64 {
        self.raw.base_address.get()
    }
    /// Length of the register frame.
    pub fn span(&self) -> u64 {
        self.raw.span.get()
    }
    /// Model.
    pub fn model(&self) -> SmmuV1V2Model {
        SmmuV1V2Model::from(self.raw.model.get())
    }
    /// Flags.
    pub fn flags(&self) -> SmmuV1V2Flags {
        SmmuV1V2Flags::from_bits_retain(self.raw.flags.get())
    }
    /// The global interrupts: SMMU_NSgIrpt and SMMU_NSgCfgIrpt. Empty when the table gives no
    /// global interrupt array (offset 0).
    pub fn global_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.global_interrupts_checked().unwrap_or(&[])
    }
    /// Context interrupts.
    pub fn context_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.context_interrupts_checked().unwrap_or(&[])
    }
    /// PMU interrupts.
    pub fn pmu_interrupts(&self) -> &'a [SmmuInterrupt] {
        self.pmu_interrupts_checked().unwrap_or(&[])
    }

    fn array(&self, offset: u32, count: u32) -> Result<&'a [SmmuInterrupt], AcpiError> {
        if count == 0 || offset == 0 {
            return Ok(&[]);
        }
        let b = self.node.bytes;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start < size_of::<SmmuV1V2Raw>() {
            return Err(AcpiError::OffsetOutOfBounds {
                offset: self.node.offset,
                value: u64::from(offset),
                limit: size_of::<SmmuV1V2Raw>(),
            });
        }
        read_slice(b, start, count, b.len()).map_err(|e| relocate(e, self.node.offset))
    }
    pub(super) fn global_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(self.raw.global_interrupt_offset.get(), 2)
    }
    pub(super) fn context_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(
            self.raw.context_interrupt_offset.get(),
            self.raw.context_interrupt_count.get(),
        )
    }
    pub(super) fn pmu_interrupts_checked(&self) -> Result<&'a [SmmuInterrupt], AcpiError> {
        self.array(
            self.raw.pmu_interrupt_offset.get(),
            self.raw.pmu_interrupt_count.get(),
        )
    }
}
