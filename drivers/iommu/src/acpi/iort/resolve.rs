//! Resolving IDs through the ID mapping chain (IORT §2 "ID mappings", §3.4): from a root
//! complex's requester ID or a named component's ID to the StreamID at its SMMU and the
//! DeviceID at its ITS group.

use super::{Iort, Node, NodeKind, NodeType};
use crate::acpi::AcpiError;

/// Longest chain of ID mappings [`Iort::resolve_id`] follows. A valid chain is at most
/// root complex or named component → SMMU → ITS group.
pub const MAX_MAPPING_HOPS: usize = 8;

impl<'a> Iort<'a> {
    /// Resolves a PCI requester ID of `segment` through the ID mapping chain: root complex →
    /// SMMU (giving the StreamID) → ITS group (giving the DeviceID). IORT §3.4 and §2 "ID
    /// mappings".
    pub fn resolve_rid(&self, segment: u32, rid: u32) -> Result<IdResolution, AcpiError> {
        let rc = self.root_complex(segment)?;
        self.resolve_id(rc.node().offset(), rid)
    }

    /// Resolves `id`, an input ID of the node at table offset `node_offset` (a root complex's
    /// requester ID, a named component's ID, or an SMMU's StreamID), through the chain of ID
    /// mappings. The walk stops at an ITS group or at a node that has no mapping for the ID;
    /// the starting node itself must map it. At most [`MAX_MAPPING_HOPS`] hops are followed
    /// and a node reached twice is [`AcpiError::ReferenceCycle`], so the walk always ends.
    ///
    /// Single mappings match any input at named components and root complexes; at SMMU and
    /// PMCG nodes they describe the node's own MSIs and are not used to translate input IDs.
    pub fn resolve_id(&self, node_offset: usize, id: u32) -> Result<IdResolution, AcpiError> {
        let start = u32::try_from(node_offset).map_err(|_| AcpiError::BadReference {
            offset: node_offset,
            reference: u32::MAX,
        })?;
        let mut node = self.node_at(start, node_offset)?;
        let mut id = id;
        let mut result = IdResolution {
            source_offset: node.offset(),
            input_id: id,
            smmu: None,
            its_group: None,
        };
        let mut visited = [usize::MAX; MAX_MAPPING_HOPS];
        for hop in 0..MAX_MAPPING_HOPS {
            let offset = node.offset();
            if visited.contains(&offset) {
                return Err(AcpiError::ReferenceCycle { offset });
            }
            if let Some(v) = visited.get_mut(hop) {
                *v = offset;
            }
            let first = hop == 0;
            let node_type = u8::from(node.node_type());
            match node.kind() {
                NodeKind::ItsGroup(_) => {
                    result.its_group = Some(ItsHop {
                        node_offset: offset,
                        device_id: id,
                    });
                    return Ok(result);
                }
                NodeKind::SmmuV1V2(smmu) => {
                    if result.smmu.is_some() {
                        return Err(AcpiError::BadReferenceTarget { offset, node_type });
                    }
                    result.smmu = Some(SmmuHop {
                        node_offset: offset,
                        kind: SmmuKind::V1V2,
                        base_address: smmu.base_address(),
                        stream_id: id,
                    });
                }
                NodeKind::SmmuV3(smmu) => {
                    if result.smmu.is_some() {
                        return Err(AcpiError::BadReferenceTarget { offset, node_type });
                    }
                    result.smmu = Some(SmmuHop {
                        node_offset: offset,
                        kind: SmmuKind::V3,
                        base_address: smmu.base_address(),
                        stream_id: id,
                    });
                }
                _ if !first => return Err(AcpiError::BadReferenceTarget { offset, node_type }),
                _ => {}
            }
            match node.translate(id)? {
                Some((out, reference, field)) => {
                    node = self.node_at(reference, field)?;
                    id = out;
                }
                None if first => return Err(AcpiError::NoMapping { offset, id }),
                None => return Ok(result),
            }
        }
        Err(AcpiError::ChainTooLong {
            offset: node.offset(),
        })
    }
}

/// Where an ID ends up; see [`Iort::resolve_rid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdResolution {
    /// The node the walk started at.
    pub source_offset: usize,
    /// The ID the walk started with.
    pub input_id: u32,
    /// The SMMU the ID passes through, if any.
    pub smmu: Option<SmmuHop>,
    /// The ITS group the ID reaches, if any.
    pub its_group: Option<ItsHop>,
}

impl IdResolution {
    /// The StreamID at the SMMU.
    pub fn stream_id(&self) -> Option<u32> {
        self.smmu.map(|s| s.stream_id)
    }
    /// The DeviceID at the ITS group.
    pub fn device_id(&self) -> Option<u32> {
        self.its_group.map(|i| i.device_id)
    }
}

/// Which SMMU architecture a node describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SmmuKind {
    /// SMMUv1 or SMMUv2 node.
    V1V2,
    /// SMMUv3 node.
    V3,
}

/// The SMMU on a resolved chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmmuHop {
    /// Table offset of the SMMU node.
    pub node_offset: usize,
    /// SMMUv1/v2 or SMMUv3.
    pub kind: SmmuKind,
    /// The SMMU's register base address, which identifies it to the driver.
    pub base_address: u64,
    /// The StreamID the device's transactions carry at this SMMU.
    pub stream_id: u32,
}

/// The ITS group at the end of a resolved chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItsHop {
    /// Table offset of the ITS group node.
    pub node_offset: usize,
    /// The DeviceID the device's MSIs carry at the ITS.
    pub device_id: u32,
}

impl<'a> Node<'a> {
    /// Translates an input ID through this node's ID mappings: returns the output ID, the
    /// output reference and the table offset of the mapping used, or `None` when no mapping
    /// covers the ID. See [`Iort::resolve_id`] for which mappings count.
    fn translate(&self, id: u32) -> Result<Option<(u32, u32, usize)>, AcpiError> {
        let singles_match = matches!(
            self.node_type(),
            NodeType::NamedComponent | NodeType::RootComplex
        );
        for (i, m) in self.mappings.iter().enumerate() {
            let field = self.id_mapping_table_offset(i);
            if m.is_single() {
                if singles_match {
                    return Ok(Some((m.output_base(), m.output_reference(), field)));
                }
                continue;
            }
            if m.covers(id) {
                let out = m
                    .map(id)
                    .ok_or(AcpiError::IdOverflow { offset: field, id })?;
                return Ok(Some((out, m.output_reference(), field)));
            }
        }
        Ok(None)
    }
}
