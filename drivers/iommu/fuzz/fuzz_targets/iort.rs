//! Parses arbitrary bytes as an IORT, walks every node and ID mapping, and resolves IDs
//! through the mapping chains.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vsva_iommu::acpi::iort::{Iort, NodeKind};

fn walk(bytes: &[u8]) {
    let iort = match Iort::parse(bytes) {
        Ok(t) => t,
        Err(e) => {
            black_box((e.offset(), e.to_string()));
            return;
        }
    };
    black_box((iort.checksum_valid(), iort.revision(), iort.node_count()));
    let mut nodes = 0u32;
    for n in iort.nodes() {
        nodes += 1;
        black_box((
            n.offset(),
            n.node_type(),
            n.length(),
            n.revision(),
            n.identifier(),
        ));
        match n.kind() {
            NodeKind::ItsGroup(g) => {
                for id in g.its_identifiers() {
                    black_box(id);
                }
            }
            NodeKind::NamedComponent(nc) => {
                black_box((
                    nc.flags(),
                    nc.pasid_bits(),
                    nc.memory_access_properties().memory_access_flags(),
                    nc.device_memory_address_size_limit(),
                    nc.device_object_name_str(),
                ));
            }
            NodeKind::RootComplex(rc) => {
                black_box((
                    rc.ats_attribute(),
                    rc.pci_segment_number(),
                    rc.memory_address_size_limit(),
                    rc.pasid_capabilities(),
                    rc.max_pasid_width(),
                    rc.flags(),
                ));
                let seg = rc.pci_segment_number();
                for rid in [0u32, 1, 0x100, 0xffff] {
                    black_box(iort.resolve_rid(seg, rid).map_err(|e| e.to_string()).ok());
                }
            }
            NodeKind::SmmuV1V2(s) => {
                black_box((s.base_address(), s.span(), s.model(), s.flags()));
                for irq in s
                    .global_interrupts()
                    .iter()
                    .chain(s.context_interrupts())
                    .chain(s.pmu_interrupts())
                {
                    black_box((irq.gsiv(), irq.flags()));
                }
            }
            NodeKind::SmmuV3(s) => {
                black_box((
                    s.base_address(),
                    s.flags(),
                    s.httu_override(),
                    s.vatos_address(),
                    s.model(),
                    s.event_gsiv(),
                    s.pri_gsiv(),
                    s.gerr_gsiv(),
                    s.sync_gsiv(),
                    s.proximity_domain(),
                    s.device_id_mapping_index(),
                ));
            }
            NodeKind::Pmcg(p) => {
                black_box((
                    p.page0_base_address(),
                    p.overflow_interrupt_gsiv(),
                    p.page1_base_address(),
                ));
                black_box(iort.node_at(p.node_reference(), n.offset()).ok());
            }
            NodeKind::Rmr(r) => {
                black_box((r.flags(), r.access_attributes()));
                for d in r.memory_ranges() {
                    black_box((d.base_address(), d.length()));
                }
            }
            NodeKind::Iwb(w) => {
                black_box((w.config_frame_base(), w.iwb_index(), w.device_object_name()));
            }
            NodeKind::Unknown(u) => {
                black_box(u.bytes());
            }
        }
        for (i, m) in n.id_mappings().iter().enumerate() {
            black_box((
                m.flags(),
                m.id_count(),
                m.input_last(),
                n.id_mapping_table_offset(i),
            ));
            black_box(iort.node_at(m.output_reference(), n.offset()).ok());
            // IDs at and around the edges of the range.
            for id in [
                m.input_base(),
                m.input_last(),
                m.input_last().wrapping_add(1),
                m.input_base().wrapping_sub(1),
            ] {
                black_box(m.map(id));
                if let Ok(r) = iort.resolve_id(n.offset(), id) {
                    black_box((r.stream_id(), r.device_id()));
                }
            }
        }
        black_box(iort.resolve_id(n.offset(), 0).ok());
    }
    assert_eq!(nodes, iort.node_count());
}

fuzz_target!(|data: &[u8]| {
    walk(data);
    if data.len() >= 8 {
        let mut fixed = data.to_vec();
        fixed[0..4].copy_from_slice(b"IORT");
        let len = u32::try_from(fixed.len()).unwrap_or(u32::MAX);
        fixed[4..8].copy_from_slice(&len.to_le_bytes());
        walk(&fixed);
    }
});
