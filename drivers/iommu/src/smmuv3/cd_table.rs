//! Context-descriptor tables (SMMUv3 §5.4): linear, or 2-level with leaf
//! tables made on demand; CDs written and cleared as live updates.
//!
//! The SMMU reads a CD table at the addresses an STE and the level-1
//! descriptors hold. For a stage-1-only STE those are physical addresses; for
//! a nested STE they are IPAs that the stream's stage 2 translates (§5.2,
//! S1ContextPtr; §5.4.2, L1CD.L2Ptr). A [`TableAddresses`] says which address
//! the SMMU is to use for the pages a table allocates, so one table engine
//! serves both: [`Physical`] for the first, a caller's placement (mapping the
//! pages into the stage 2 at some IPA) for the second.

use alloc::collections::BTreeMap;

use super::queue::Command;
use super::structs::{CdTableFormat, ContextDescriptor, DefaultSubstream, Stage1, TableWalk};
use super::unit::{Smmu, SmmuError};
use crate::hw::{Clock, DmaMemory, RegisterAccess};

/// Where the SMMU reaches pages allocated for a CD table.
pub trait TableAddresses {
    /// The address the SMMU is to use for the `pages` frames at physical `pa`
    /// (a power of two, aligned to their size), which the table just
    /// allocated; `None` if they cannot be made reachable (the allocation is
    /// then undone and the operation fails with
    /// [`SmmuError::TablePlacement`]).
    fn place(&mut self, pa: u64, pages: usize) -> Option<u64>;
}

/// Physical addresses: tables for STEs whose stage 1 is not nested.
#[derive(Clone, Copy, Debug, Default)]
pub struct Physical;

impl TableAddresses for Physical {
    fn place(&mut self, pa: u64, _pages: usize) -> Option<u64> {
        Some(pa)
    }
}

/// log2 of the CDs in one leaf table of a 2-level CD table (§5.4).
fn leaf_bits(format: CdTableFormat) -> u8 {
    match format {
        CdTableFormat::TwoLevel64K => 10,
        _ => 6,
    }
}

/// A CD table the driver built (§5.4): where it is, its shape, and the leaf
/// tables of a 2-level table allocated so far.
#[derive(Debug)]
pub struct CdTable {
    /// The linear or level-1 table: physical, and as the SMMU reads it.
    phys: u64,
    smmu_base: u64,
    base_pages: usize,
    format: CdTableFormat,
    cd_max: u8,
    /// Level-1 index -> the leaf's physical address.
    leaves: BTreeMap<u32, u64>,
    /// Made with a placement other than [`Physical`]: new leaves need it.
    placed: bool,
}

impl CdTable {
    /// S1ContextPtr: the linear table, or the level-1 table, as the SMMU
    /// reads it (an IPA for a placed table).
    pub fn base(&self) -> u64 {
        self.smmu_base
    }

    /// S1CDMax.
    pub fn cd_max(&self) -> u8 {
        self.cd_max
    }

    /// S1Fmt.
    pub fn format(&self) -> CdTableFormat {
        self.format
    }

    /// The STE's stage-1 half pointing at this table, table walks
    /// write-back cacheable and inner shareable.
    pub fn stage1(&self, default_substream: DefaultSubstream, stall_disable: bool) -> Stage1 {
        Stage1 {
            context: self.smmu_base,
            format: self.format,
            cd_max: self.cd_max,
            default_substream,
            stall_disable,
            walk: TableWalk::WRITE_BACK_INNER_SHAREABLE,
        }
    }

    /// Frames the table holds (level-1 or linear table and leaves).
    pub fn pages(&self) -> usize {
        self.base_pages + self.leaves.len() * leaf_pages(self.format)
    }
}

/// Frames of one leaf table.
fn leaf_pages(format: CdTableFormat) -> usize {
    ((1usize << leaf_bits(format)) * 64).div_ceil(4096)
}

impl<R: RegisterAccess, M: DmaMemory, C: Clock> Smmu<R, M, C> {
    /// A CD table of 2^`cd_max` CDs (§5.4) at physical addresses, every CD
    /// invalid. Linear tables are allocated whole; a 2-level table
    /// (IDR0.CD2L) allocates its level-1 table now and each leaf table when a
    /// CD in it is first set, so a large SSID space costs memory only where it
    /// is used.
    pub fn new_cd_table(
        &mut self,
        format: CdTableFormat,
        cd_max: u8,
    ) -> Result<CdTable, SmmuError> {
        self.new_cd_table_placed(format, cd_max, &mut Physical)
            .map(|mut t| {
                t.placed = false;
                t
            })
    }

    /// [`new_cd_table`](Self::new_cd_table) whose pages the SMMU reaches
    /// where `place` says (a nested STE's IPAs). CDs of such a table are set
    /// with [`set_cd_placed`](Self::set_cd_placed) and the same placement.
    pub fn new_cd_table_placed(
        &mut self,
        format: CdTableFormat,
        cd_max: u8,
        place: &mut dyn TableAddresses,
    ) -> Result<CdTable, SmmuError> {
        if cd_max > self.id.idr1.ssidsize() {
            return Err(SmmuError::Unsupported("IDR1.SSIDSIZE"));
        }
        let bytes = match format {
            CdTableFormat::Linear => (1u64 << cd_max) * 64,
            _ if !self.id.idr0.cd2l() => return Err(SmmuError::Unsupported("IDR0.CD2L")),
            // Level-1 table: 2^(S1CDMax - leaf bits) 8-byte L1CD descriptors.
            _ => {
                let entries_log2 = cd_max
                    .checked_sub(leaf_bits(format))
                    .filter(|&n| n > 0)
                    .ok_or(SmmuError::Unsupported(
                        "S1CDMax must exceed the leaf size for 2-level CD tables",
                    ))?;
                (1u64 << entries_log2) * 8
            }
        };
        let pages = bytes.div_ceil(4096).next_power_of_two() as usize;
        let base = self
            .memory
            .alloc_pages(pages)
            .ok_or(SmmuError::OutOfMemory)?;
        let Some(smmu_base) = place.place(base, pages) else {
            self.memory.free_pages(base, pages);
            return Err(SmmuError::TablePlacement);
        };
        Ok(CdTable {
            phys: base,
            smmu_base,
            base_pages: pages,
            format,
            cd_max,
            leaves: BTreeMap::new(),
            placed: true,
        })
    }

    /// Writes CD `ssid` of `table`, used by stream `sid`, as a live update
    /// (§3.21.3): a 2-level table first gets the leaf and its L1CD (followed by
    /// a non-leaf CFGI_CD, since the SMMU may hold the old L1CD). A table made
    /// with a placement needs [`set_cd_placed`](Self::set_cd_placed) when the
    /// CD's leaf is new.
    pub fn set_cd(
        &mut self,
        sid: u32,
        table: &mut CdTable,
        ssid: u32,
        cd: &ContextDescriptor,
    ) -> Result<(), SmmuError> {
        if table.placed && self.leaf_missing(table, ssid) {
            return Err(SmmuError::TablePlacement);
        }
        self.set_cd_placed(sid, table, ssid, cd, &mut Physical)
    }

    /// [`set_cd`](Self::set_cd) with the table's placement, for its new leaves.
    pub fn set_cd_placed(
        &mut self,
        sid: u32,
        table: &mut CdTable,
        ssid: u32,
        cd: &ContextDescriptor,
        place: &mut dyn TableAddresses,
    ) -> Result<(), SmmuError> {
        // Fields whose features the SMMU may lack (§6.3.4 IDR3): a CD using
        // one anyway is ILLEGAL there, so refuse it before it is written.
        let halves = || cd.ttb0.iter().chain(cd.ttb1.iter());
        if halves().any(|h| h.hierarchical_attribute_disable) && !self.id.idr3.had() {
            return Err(SmmuError::Unsupported("IDR3.HAD"));
        }
        if halves().any(|h| h.unprivileged_access_disable) && !self.id.idr3.e0pd() {
            return Err(SmmuError::Unsupported("IDR3.E0PD"));
        }
        let at = self.cd_address(sid, table, ssid, Some(place))?;
        let Some(at) = at else {
            return Err(SmmuError::TablePlacement);
        };
        self.update_entry(
            at,
            &cd.encode(),
            1 << 31,
            Command::CfgiCd {
                sid,
                ssid,
                leaf: true,
            },
        )
    }

    /// Makes CD `ssid` of `table` invalid: that substream's transactions get
    /// C_BAD_CD. A CD in a leaf never made was never valid: nothing to do.
    pub fn clear_cd(&mut self, sid: u32, table: &mut CdTable, ssid: u32) -> Result<(), SmmuError> {
        let Some(at) = self.cd_address(sid, table, ssid, None)? else {
            return Ok(());
        };
        self.update_entry(
            at,
            &[0; 8],
            1 << 31,
            Command::CfgiCd {
                sid,
                ssid,
                leaf: true,
            },
        )
    }

    /// Frees `table`'s pages. The caller guarantees the SMMU can no longer
    /// read them: no STE points at the table any more and the CFGI_STE that
    /// said so has completed (and, for a placed table, the placement's IPAs
    /// are unmapped or their stage 2 is no longer used).
    pub fn free_cd_table(&mut self, table: CdTable) {
        let leaf = leaf_pages(table.format);
        for (_, pa) in table.leaves {
            self.memory.free_pages(pa, leaf);
        }
        self.memory.free_pages(table.phys, table.base_pages);
    }

    fn leaf_missing(&self, table: &CdTable, ssid: u32) -> bool {
        table.format != CdTableFormat::Linear
            && !table
                .leaves
                .contains_key(&(ssid >> leaf_bits(table.format)))
    }

    /// The physical address of CD `ssid`; its leaf made (with `place`) when
    /// missing, or `None` when missing and no placement is given.
    fn cd_address(
        &mut self,
        sid: u32,
        table: &mut CdTable,
        ssid: u32,
        place: Option<&mut dyn TableAddresses>,
    ) -> Result<Option<u64>, SmmuError> {
        if u64::from(ssid) >> table.cd_max != 0 {
            return Err(SmmuError::BadSubstreamId(ssid));
        }
        if table.format == CdTableFormat::Linear {
            return Ok(Some(table.phys + u64::from(ssid) * 64));
        }
        let bits = leaf_bits(table.format);
        let index = ssid >> bits;
        let leaf = match (table.leaves.get(&index), place) {
            (Some(&leaf), _) => leaf,
            (None, None) => return Ok(None),
            (None, Some(place)) => {
                let pages = leaf_pages(table.format);
                let leaf = self
                    .memory
                    .alloc_pages(pages)
                    .ok_or(SmmuError::OutOfMemory)?;
                let Some(smmu_leaf) = place.place(leaf, pages) else {
                    self.memory.free_pages(leaf, pages);
                    return Err(SmmuError::TablePlacement);
                };
                // L1CD (§5.4.2): V, bit 0; L2Ptr, bits 51:12.
                self.memory.publish();
                self.memory.write64(
                    table.phys + u64::from(index) * 8,
                    (smmu_leaf & 0x000f_ffff_ffff_f000) | 1,
                );
                self.memory.publish();
                table.leaves.insert(index, leaf);
                self.submit(&[Command::CfgiCd {
                    sid,
                    ssid,
                    leaf: false,
                }])?;
                leaf
            }
        };
        Ok(Some(leaf + u64::from(ssid & ((1 << bits) - 1)) * 64))
    }
}
