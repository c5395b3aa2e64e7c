//! IORT nodes (IORT §3.1): the header every node starts with, the node types, the checked
//! [`Node`] with its ID mapping array, and [`NodeKind`], the type-specific view built from it.

use core::mem::size_of;

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use super::its_group::{ItsGroup, ItsGroupRaw};
use super::iwb::{Iwb, IwbRaw};
use super::mapping::IdMapping;
use super::named_component::{NamedComponent, NamedComponentRaw};
use super::pmcg::{Pmcg, PmcgRaw, PmcgTail};
use super::rmr::{Rmr, RmrRaw};
use super::root_complex::{RootComplex, RootComplexRaw};
use super::smmu_v1v2::{SmmuV1V2, SmmuV1V2Raw};
use super::smmu_v3::{SmmuV3, SmmuV3Raw, SmmuV3Tail};
use crate::acpi::AcpiError;
use crate::acpi::sdt::{self, read, read_slice};

/// The header every node starts with (IORT §3.1, Table 3).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(super) struct NodeHeader {
    ty: u8,
    length: U16,
    revision: u8,
    identifier: U32,
    mapping_count: U32,
    mapping_offset: U32,
}
const _: () = assert!(size_of::<NodeHeader>() == 16);

/// IORT node types (IORT §3.1, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// 0: ITS group.
    ItsGroup,
    /// 1: named component.
    NamedComponent,
    /// 2: PCI root complex.
    RootComplex,
    /// 3: SMMUv1 or SMMUv2.
    SmmuV1V2,
    /// 4: SMMUv3.
    SmmuV3,
    /// 5: PMCG (SMMUv3 performance monitor counter group).
    Pmcg,
    /// 6: Reserved memory range (RMR).
    Rmr,
    /// 7: Interrupt wire bridge (IWB, GICv5 systems; DEN 0049E.g).
    Iwb,
    /// A type this parser does not know.
    Unknown(u8),
}

impl From<u8> for NodeType {
    fn from(v: u8) -> Self {
        match v {
            0 => Self::ItsGroup,
            1 => Self::NamedComponent,
            2 => Self::RootComplex,
            3 => Self::SmmuV1V2,
            4 => Self::SmmuV3,
            5 => Self::Pmcg,
            6 => Self::Rmr,
            7 => Self::Iwb,
            other => Self::Unknown(other),
        }
    }
}

impl From<NodeType> for u8 {
    fn from(t: NodeType) -> u8 {
        match t {
            NodeType::ItsGroup => 0,
            NodeType::NamedComponent => 1,
            NodeType::RootComplex => 2,
            NodeType::SmmuV1V2 => 3,
            NodeType::SmmuV3 => 4,
            NodeType::Pmcg => 5,
            NodeType::Rmr => 6,
            NodeType::Iwb => 7,
            NodeType::Unknown(v) => v,
        }
    }
}

/// Iterator over an IORT's nodes; see [`Iort::nodes`](super::Iort::nodes).
#[derive(Debug, Clone)]
pub struct Nodes<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) pos: usize,
    pub(super) remaining: u32,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        match Node::parse(self.bytes, self.pos) {
            Ok(node) => {
                self.remaining -= 1;
                self.pos = node.end();
                Some(node)
            }
            // `Iort::parse` checked every node, so errors cannot happen here; stop anyway.
            Err(_) => {
                self.remaining = 0;
                None
            }
        }
    }
}

/// One IORT node (IORT §3.1).
#[derive(Debug, Clone, Copy)]
pub struct Node<'a> {
    pub(super) offset: usize,
    header: &'a NodeHeader,
    /// The node's bytes, `header.length` of them.
    pub(super) bytes: &'a [u8],
    pub(super) mappings: &'a [IdMapping],
    /// Where the node's type-specific fixed part may extend to: the ID mapping array, or the
    /// node's end when it has no mappings.
    fixed_end: usize,
}

impl<'a> Node<'a> {
    /// Reads and checks the node at table offset `pos` of `table`.
    pub(super) fn parse(table: &'a [u8], pos: usize) -> Result<Self, AcpiError> {
        let header = read::<NodeHeader>(table, pos, table.len())?;
        let length = usize::from(header.length.get());
        if length == 0 {
            return Err(AcpiError::ZeroLength { offset: pos });
        }
        let available = table.len().saturating_sub(pos);
        if length > available {
            return Err(AcpiError::LengthOverrun {
                offset: pos,
                length,
                available,
            });
        }
        let node_type = NodeType::from(header.ty);
        let minimum = fixed_size(node_type);
        if length < minimum {
            return Err(AcpiError::LengthTooSmall {
                offset: pos,
                length,
                minimum,
            });
        }
        // `length <= available` makes `pos + length` safe.
        let bytes = table.get(pos..pos + length).unwrap_or(&[]);
        let count = header.mapping_count.get();
        let (mappings, fixed_end) = if count == 0 {
            (&[][..], length)
        } else {
            let map_off = header.mapping_offset.get();
            let start = usize::try_from(map_off).unwrap_or(usize::MAX);
            if start < minimum {
                return Err(AcpiError::OffsetOutOfBounds {
                    offset: pos,
                    value: u64::from(map_off),
                    limit: minimum,
                });
            }
            let table_offset = sdt::add(pos, u64::from(map_off), table.len())?;
            let mappings =
                read_slice::<IdMapping>(bytes, start, count, length).map_err(|e| match e {
                    AcpiError::ArrayOverrun {
                        count,
                        entry_size,
                        available,
                        ..
                    } => AcpiError::ArrayOverrun {
                        offset: table_offset,
                        count,
                        entry_size,
                        available,
                    },
                    other => other,
                })?;
            (mappings, start)
        };
        let node = Self {
            offset: pos,
            header,
            bytes,
            mappings,
            fixed_end,
        };
        node.check_arrays()?;
        Ok(node)
    }

    /// Checks the type-specific arrays fit in the node.
    fn check_arrays(&self) -> Result<(), AcpiError> {
        match self.kind_checked()? {
            NodeKind::SmmuV1V2(s) => {
                s.global_interrupts_checked()?;
                s.context_interrupts_checked()?;
                s.pmu_interrupts_checked()?;
            }
            NodeKind::Rmr(r) => {
                r.memory_ranges_checked()?;
            }
            _ => {}
        }
        Ok(())
    }

    pub(super) fn end(&self) -> usize {
        self.offset + self.bytes.len()
    }

    /// Table offset of the node.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// Node type.
    pub fn node_type(&self) -> NodeType {
        NodeType::from(self.header.ty)
    }
    /// Node length in bytes.
    pub fn length(&self) -> u16 {
        self.header.length.get()
    }
    /// Node revision: which version of this node type's layout the node uses.
    pub fn revision(&self) -> u8 {
        self.header.revision
    }
    /// Identifier, unique among the nodes (table revision 3, DEN 0049E.b, on; reserved and
    /// normally zero before).
    pub fn identifier(&self) -> u32 {
        self.header.identifier.get()
    }
    /// The node's ID mappings.
    pub fn id_mappings(&self) -> &'a [IdMapping] {
        self.mappings
    }
    /// Offset of the ID mapping array from the start of the node (as stored; meaningless when
    /// there are no mappings).
    pub fn id_mapping_offset(&self) -> u32 {
        self.header.mapping_offset.get()
    }
    /// All the node's bytes, header included.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Table offset of the `index`th ID mapping entry.
    pub fn id_mapping_table_offset(&self, index: usize) -> usize {
        let base = usize::try_from(self.header.mapping_offset.get()).unwrap_or(0);
        self.offset
            .saturating_add(base)
            .saturating_add(index.saturating_mul(size_of::<IdMapping>()))
    }

    /// The type-specific view of the node.
    pub fn kind(&self) -> NodeKind<'a> {
        // `parse` ran `kind_checked` on every node, so this cannot fail.
        self.kind_checked().unwrap_or(NodeKind::Unknown(*self))
    }

    fn kind_checked(&self) -> Result<NodeKind<'a>, AcpiError> {
        let node = *self;
        let b = self.bytes;
        let len = b.len();
        let err_at = |e: AcpiError| relocate(e, self.offset);
        Ok(match self.node_type() {
            NodeType::ItsGroup => {
                let raw = read::<ItsGroupRaw>(b, 0, len).map_err(err_at)?;
                let ids = read_slice::<U32>(b, size_of::<ItsGroupRaw>(), raw.its_count.get(), len)
                    .map_err(err_at)?;
                NodeKind::ItsGroup(ItsGroup { node, ids })
            }
            NodeType::NamedComponent => {
                let raw = read::<NamedComponentRaw>(b, 0, len).map_err(err_at)?;
                let name_end = self.fixed_end.min(len);
                let name_field = b
                    .get(size_of::<NamedComponentRaw>()..name_end)
                    .unwrap_or(&[]);
                NodeKind::NamedComponent(NamedComponent {
                    node,
                    raw,
                    name_field,
                })
            }
            NodeType::RootComplex => {
                let raw = read::<RootComplexRaw>(b, 0, len).map_err(err_at)?;
                let tail = b
                    .get(size_of::<RootComplexRaw>()..self.fixed_end.min(len))
                    .unwrap_or(&[]);
                NodeKind::RootComplex(RootComplex { node, raw, tail })
            }
            NodeType::SmmuV1V2 => NodeKind::SmmuV1V2(SmmuV1V2 {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
            }),
            NodeType::SmmuV3 => NodeKind::SmmuV3(SmmuV3 {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
                tail: read::<SmmuV3Tail>(b, size_of::<SmmuV3Raw>(), self.fixed_end).ok(),
            }),
            NodeType::Pmcg => NodeKind::Pmcg(Pmcg {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
                tail: read::<PmcgTail>(b, size_of::<PmcgRaw>(), self.fixed_end).ok(),
            }),
            NodeType::Rmr => NodeKind::Rmr(Rmr {
                node,
                raw: read(b, 0, len).map_err(err_at)?,
            }),
            NodeType::Iwb => {
                let raw = read::<IwbRaw>(b, 0, len).map_err(err_at)?;
                let name_field = b
                    .get(size_of::<IwbRaw>()..self.fixed_end.min(len))
                    .unwrap_or(&[]);
                NodeKind::Iwb(Iwb {
                    node,
                    raw,
                    name_field,
                })
            }
            NodeType::Unknown(_) => NodeKind::Unknown(node),
        })
    }
}

/// Turns an error whose offset is relative to a node into one relative to the table.
pub(super) fn relocate(e: AcpiError, base: usize) -> AcpiError {
    let at = |o: usize| base.saturating_add(o);
    match e {
        AcpiError::Truncated {
            offset,
            needed,
            available,
        } => AcpiError::Truncated {
            offset: at(offset),
            needed,
            available,
        },
        AcpiError::ArrayOverrun {
            offset,
            count,
            entry_size,
            available,
        } => AcpiError::ArrayOverrun {
            offset: at(offset),
            count,
            entry_size,
            available,
        },
        other => other,
    }
}

/// Smallest length a node of each type can have: its header and first-revision fixed part.
fn fixed_size(t: NodeType) -> usize {
    match t {
        NodeType::ItsGroup => size_of::<ItsGroupRaw>(),
        NodeType::NamedComponent => size_of::<NamedComponentRaw>(),
        NodeType::RootComplex => size_of::<RootComplexRaw>(),
        NodeType::SmmuV1V2 => size_of::<SmmuV1V2Raw>(),
        NodeType::SmmuV3 => size_of::<SmmuV3Raw>(),
        NodeType::Pmcg => size_of::<PmcgRaw>(),
        NodeType::Rmr => size_of::<RmrRaw>(),
        NodeType::Iwb => size_of::<IwbRaw>(),
        NodeType::Unknown(_) => size_of::<NodeHeader>(),
    }
}

/// The type-specific view of a node.
#[derive(Debug, Clone, Copy)]
pub enum NodeKind<'a> {
    /// ITS group.
    ItsGroup(ItsGroup<'a>),
    /// Named component.
    NamedComponent(NamedComponent<'a>),
    /// PCI root complex.
    RootComplex(RootComplex<'a>),
    /// SMMUv1 or SMMUv2.
    SmmuV1V2(SmmuV1V2<'a>),
    /// SMMUv3.
    SmmuV3(SmmuV3<'a>),
    /// PMCG.
    Pmcg(Pmcg<'a>),
    /// Reserved memory range.
    Rmr(Rmr<'a>),
    /// Interrupt wire bridge.
    Iwb(Iwb<'a>),
    /// A node of a type this parser does not know.
    Unknown(Node<'a>),
}
