//! Parses arbitrary bytes as a DMAR and walks every structure and device scope.
#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use vsva_iommu::acpi::dmar::{Dmar, RemappingStructure};

fn walk(bytes: &[u8]) {
    let dmar = match Dmar::parse(bytes) {
        Ok(d) => d,
        Err(e) => {
            black_box((e.offset(), e.to_string()));
            return;
        }
    };
    black_box((
        dmar.checksum_valid(),
        dmar.host_address_width(),
        dmar.flags(),
    ));
    for s in dmar.structures() {
        black_box((s.offset(), s.structure_type()));
        match s {
            RemappingStructure::Drhd(d) => {
                black_box((
                    d.flags(),
                    d.register_set_pages(),
                    d.segment(),
                    d.register_base(),
                ));
            }
            RemappingStructure::Rmrr(r) => {
                black_box((r.segment(), r.base(), r.limit()));
            }
            RemappingStructure::Atsr(a) => {
                black_box((a.flags(), a.segment()));
            }
            RemappingStructure::Rhsa(r) => {
                black_box((r.register_base(), r.proximity_domain()));
            }
            RemappingStructure::Andd(a) => {
                black_box((a.acpi_device_number(), a.object_name(), a.object_name_str()));
            }
            RemappingStructure::Satc(s) => {
                black_box((s.flags(), s.segment()));
            }
            RemappingStructure::Sidp(s) => {
                black_box(s.segment());
            }
            RemappingStructure::Unknown(u) => {
                black_box((u.structure_type(), u.bytes()));
            }
        }
        for scope in s.device_scopes() {
            black_box((
                scope.offset(),
                scope.scope_type(),
                scope.flags(),
                scope.enumeration_id(),
                scope.start_bus(),
            ));
            for hop in scope.path() {
                black_box(hop);
            }
        }
    }
    // The typed iterators agree with the generic walk.
    let total = dmar.structures().count();
    let typed = dmar.drhds().count()
        + dmar.rmrrs().count()
        + dmar.atsrs().count()
        + dmar.rhsas().count()
        + dmar.andds().count()
        + dmar.satcs().count()
        + dmar.sidps().count();
    assert!(typed <= total);
}

fuzz_target!(|data: &[u8]| {
    // As given: exercises the header checks.
    walk(data);
    // With signature and Length fixed up, so mutations reach the remapping structures.
    if data.len() >= 8 {
        let mut fixed = data.to_vec();
        fixed[0..4].copy_from_slice(b"DMAR");
        let len = u32::try_from(fixed.len()).unwrap_or(u32::MAX);
        fixed[4..8].copy_from_slice(&len.to_le_bytes());
        walk(&fixed);
    }
});
