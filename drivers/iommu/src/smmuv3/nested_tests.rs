//! Nested streams against the model: stage-1 TLB invalidation must carry the
//! stage-2 VMID, and a CD table reached through stage 2 (placed at IPAs)
//! works in every format.

use alloc::vec::Vec;

use super::cd_table::{CdTable, TableAddresses};
use super::driver_tests::{Driver, Rig};
use super::model::SmmuConfig;
use super::pagetable::{Attributes, Granule, Permissions, Stage1Table, Stage2Table};
use super::structs::{
    CdTableFormat, ContextDescriptor, DefaultSubstream, Stage2, Ste, StreamConfig,
};
use super::unit::{SmmuError, StreamTableFormat, TlbScope};
use crate::hw::sim::SimMemory;

const SID: u32 = 0x0010;
const VMID: u16 = 5;
const ASID: u16 = 3;
/// Where the placement puts CD tables in IPA space (outside RAM's identity).
const WINDOW: u64 = 0x80_0000_0000;

fn rw() -> Attributes {
    Attributes::dma(Permissions::READ | Permissions::WRITE)
}

fn ro() -> Attributes {
    Attributes::dma(Permissions::READ)
}

/// The full-featured model with a linear stream table.
fn rig() -> Rig {
    Rig::new(SmmuConfig::full())
}

fn linear(rig: &Rig) -> Driver<'_> {
    rig.smmu(StreamTableFormat::Linear { sid_bits: 16 })
}

/// Maps what a placed table allocates at the next IPAs of [`WINDOW`] in the
/// stage-2 table, read-only, as a hypervisor would for a nested STE.
struct Placement<'a> {
    s2: &'a mut Stage2Table,
    mem: &'a SimMemory,
    next: u64,
    placed: Vec<(u64, u64)>,
}

impl TableAddresses for Placement<'_> {
    fn place(&mut self, pa: u64, pages: usize) -> Option<u64> {
        let len = pages as u64 * 4096;
        let ipa = self.next.next_multiple_of(len);
        self.s2
            .map(self.mem, ipa, pa, len, ro())
            .ok()?
            .finish(self.mem);
        self.next = ipa + len;
        self.placed.push((ipa, pa));
        Some(ipa)
    }
}

/// The stage-2 STE half of `s2` with [`VMID`].
fn stage2(s2: &Stage2Table) -> Stage2 {
    let g = s2.ste_fields(true);
    Stage2::for_table(VMID, &g)
}

/// A stage 2 that is the identity over the simulated RAM (so stage-1 tables
/// and data pages keep their addresses as IPAs).
fn identity_stage2(rig: &Rig) -> Stage2Table {
    let m = &*rig.mem;
    let mut s2 = Stage2Table::new(m, Granule::Size4K, 40, 40).unwrap();
    s2.map(m, 0x10_0000, 0x10_0000, 0x4000_0000 - 0x10_0000, rw())
        .unwrap()
        .finish(m);
    s2
}

/// A stage-1 TLBI for a nested stream must name the STE's VMID: the
/// stage-1 entries of a nested stream are tagged with it, so TLBI_NH_ASID
/// with VMID 0 leaves the stale translation in place (the DMA still lands
/// in the old page), and with the stream's VMID it goes.
#[test]
fn stage1_invalidation_of_a_nested_stream_carries_its_vmid() {
    let rig = rig();
    let mut smmu = linear(&rig);
    let m = &*rig.mem;
    let s2 = identity_stage2(&rig);
    let mut s1 = Stage1Table::new(m, Granule::Size4K, 39, 40).unwrap();
    let (old, new) = (rig.page(0), rig.page(0));
    let iova = 0x7000_0000;
    s1.map(m, iova, old, 4096, rw()).unwrap().finish(m);
    let mut cds = smmu.new_cd_table(CdTableFormat::Linear, 0).unwrap();
    let cd = ContextDescriptor::for_table(&s1.cd_fields(true), ASID, true, false);
    smmu.set_cd(SID, &mut cds, 0, &cd).unwrap();
    let ste = Ste {
        config: StreamConfig::Nested(cds.stage1(DefaultSubstream::Terminate, false), stage2(&s2)),
        ats: false,
        merge_events: false,
    };
    smmu.set_ste(SID, &ste).unwrap();
    rig.model.dma_write(SID, None, iova, &[1]).unwrap();
    assert_eq!(rig.byte(old), 1);

    // Remap without invalidating through `apply`: only the explicit TLBIs act.
    s1.unmap(m, iova, 4096).unwrap().finish(m);
    s1.map(m, iova, new, 4096, rw()).unwrap().finish(m);
    smmu.invalidate_asid(0, ASID).unwrap();
    rig.model.dma_write(SID, None, iova, &[2]).unwrap();
    assert_eq!(
        (rig.byte(old), rig.byte(new)),
        (2, 0),
        "TLBI_NH_ASID with VMID 0 must not reach a nested stream's entries"
    );
    smmu.invalidate_asid(VMID, ASID).unwrap();
    rig.model.dma_write(SID, None, iova, &[3]).unwrap();
    assert_eq!((rig.byte(old), rig.byte(new)), (2, 3));

    // `apply` with the nested scope does the same for an unmapped page.
    let change = s1.unmap(m, iova, 4096).unwrap();
    smmu.apply(
        TlbScope::Stage1 {
            vmid: VMID,
            asid: ASID,
        },
        Granule::Size4K,
        change,
    )
    .unwrap();
    s1.map(m, iova, old, 4096, rw()).unwrap().finish(m);
    rig.model.dma_write(SID, None, iova, &[4]).unwrap();
    assert_eq!((rig.byte(old), rig.byte(new)), (4, 3));
}

/// A CD table placed at IPAs (the nested STE's S1ContextPtr and the L1CDs
/// are IPAs, §5.2 / §5.4.2), in every format: each substream translates
/// through its CD, what the placement mapped is what the SMMU read, and a
/// placed table refuses to grow a leaf without its placement.
#[test]
fn a_cd_table_placed_at_ipas_serves_a_nested_stream_in_every_format() {
    for (format, cd_max) in [
        (CdTableFormat::Linear, 4),
        (CdTableFormat::TwoLevel4K, 12),
        (CdTableFormat::TwoLevel64K, 16),
    ] {
        let rig = rig();
        let mut smmu = linear(&rig);
        let m = &*rig.mem;
        let mut s2 = identity_stage2(&rig);
        let ssids: [u32; 2] = [3, (1 << cd_max) - 1];
        let pages = [rig.page(0), rig.page(0)];
        let mut tables = Vec::new();
        let (mut cds, placed): (CdTable, Vec<(u64, u64)>) = {
            let mut placement = Placement {
                s2: &mut s2,
                mem: m,
                next: WINDOW,
                placed: Vec::new(),
            };
            let mut cds = smmu
                .new_cd_table_placed(format, cd_max, &mut placement)
                .unwrap();
            for (i, &ssid) in ssids.iter().enumerate() {
                let mut s1 = Stage1Table::new(m, Granule::Size4K, 39, 40).unwrap();
                s1.map(m, 0x7000_0000, pages[i], 4096, rw())
                    .unwrap()
                    .finish(m);
                let cd =
                    ContextDescriptor::for_table(&s1.cd_fields(true), 10 + i as u16, true, false);
                smmu.set_cd_placed(SID, &mut cds, ssid, &cd, &mut placement)
                    .unwrap();
                tables.push(s1);
            }
            (cds, placement.placed)
        };
        assert_eq!(cds.base(), WINDOW, "{format:?}: the STE gets the IPA");
        let expected_blocks = if format == CdTableFormat::Linear {
            1
        } else {
            3
        };
        assert_eq!(placed.len(), expected_blocks, "{format:?}: {placed:x?}");
        let ste = Ste {
            config: StreamConfig::Nested(
                cds.stage1(DefaultSubstream::Terminate, false),
                stage2(&s2),
            ),
            ats: false,
            merge_events: false,
        };
        smmu.set_ste(SID, &ste).unwrap();
        for (i, &ssid) in ssids.iter().enumerate() {
            rig.model
                .dma_write(SID, Some(ssid), 0x7000_0010, &[0x40 + i as u8])
                .unwrap_or_else(|e| panic!("{format:?} SSID {ssid}: {e:?}"));
            assert_eq!(rig.byte(pages[i] + 0x10), 0x40 + i as u8);
        }
        // A new leaf of a placed table needs the placement.
        if format != CdTableFormat::Linear {
            let cd = ContextDescriptor::for_table(&tables[0].cd_fields(true), 12, true, false);
            assert_eq!(
                smmu.set_cd(SID, &mut cds, 1 << (cd_max - 1), &cd),
                Err(SmmuError::TablePlacement)
            );
        }
        let before = m.allocated_pages();
        let held = cds.pages();
        smmu.clear_ste(SID).unwrap();
        smmu.free_cd_table(cds);
        assert_eq!(m.allocated_pages(), before - held, "{format:?}");
    }
}
