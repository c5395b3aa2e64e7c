use std::string::String;
use std::vec::Vec;
use std::{format, vec};

use super::{EXAMPLE, assert_says, machine, partitions};
use crate::{
    DEFAULT_PAGE_REQUEST_TIMEOUT_MS, DeviceRef, MAX_PAGE_REQUEST_TIMEOUT_MS, MAX_PARTITIONS,
    Manifest, ManifestError, PartitionSpec, PciAddress, parse, validate,
};

/// Every error `validate` reports for `text` (which must parse).
#[track_caller]
pub(super) fn errors(text: &str) -> Vec<ManifestError> {
    let manifest = parse(text).expect("the manifest parses");
    validate(&manifest, &machine()).expect_err("the manifest is refused")
}

/// The one error `validate` reports for `text`.
#[track_caller]
pub(super) fn single(text: &str) -> ManifestError {
    let mut errors = errors(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    errors.remove(0)
}

/// The error of `errors` that `matches`, which must exist.
#[track_caller]
pub(super) fn find(
    errors: &[ManifestError],
    matches: impl Fn(&ManifestError) -> bool,
) -> &ManifestError {
    errors
        .iter()
        .find(|e| matches(e))
        .unwrap_or_else(|| panic!("no such error in {errors:#?}"))
}

#[test]
fn example_manifest_is_valid() {
    validate(&parse(EXAMPLE).unwrap(), &machine()).expect("valid");
}

#[test]
fn empty_manifest_is_refused() {
    let error = single("");
    assert_eq!(error, ManifestError::NoPartitions);
    assert_says(&error, &["no partition"]);
}

#[test]
fn too_many_partitions_are_refused() {
    let manifest = Manifest {
        partitions: (0..=MAX_PARTITIONS)
            .map(|i| PartitionSpec {
                name: format!("p{i}"),
                memory: 4 << 20,
                image: "reference".into(),
                vcpus: 1,
                pasid_quota: 0,
                devices: vec![],
                devices_without_reset: vec![],
                cmdline: String::new(),
                host_base: None,
                guest_base: None,
                page_request_timeout_ms: DEFAULT_PAGE_REQUEST_TIMEOUT_MS,
            })
            .collect(),
    };
    let errors = validate(&manifest, &machine()).expect_err("refused");
    assert_eq!(
        errors,
        vec![ManifestError::TooManyPartitions {
            count: MAX_PARTITIONS + 1
        }]
    );
    assert_says(&errors[0], &["65"]);
}

#[test]
fn duplicate_name_is_refused() {
    let error = single(&partitions(&[
        ("alpha", &[]),
        ("beta", &[]),
        ("alpha", &[]),
    ]));
    assert_eq!(
        error,
        ManifestError::DuplicateName {
            name: "alpha".into(),
            count: 2
        }
    );
    assert_says(&error, &["\"alpha\"", "2 partitions"]);
}

#[test]
fn invalid_names_are_refused() {
    let long = "x".repeat(33);
    for name in ["", "has space", "dot.ted", "é", long.as_str()] {
        let error = single(&partitions(&[(name, &[])]));
        assert_eq!(
            error,
            ManifestError::BadName {
                index: 0,
                name: name.into()
            }
        );
        assert_says(&error, &[&format!("\"{name}\""), "number 1"]);
    }
    validate(
        &parse(&partitions(&[(&"y".repeat(32), &[])])).unwrap(),
        &machine(),
    )
    .expect("32 characters are fine");
}

#[test]
fn device_assigned_twice_by_address_is_refused() {
    let error = single(&partitions(&[
        ("alpha", &["devices = [\"00:01.0\"]"]),
        ("beta", &["devices = [\"0000:00:01.0\"]"]),
    ]));
    assert!(
        matches!(&error, ManifestError::DeviceAssignedTwice { partition, owner, .. }
            if partition == "beta" && owner == "alpha"),
        "{error:?}"
    );
    assert_says(
        &error,
        &["\"beta\"", "0000:00:01.0", "already assigned", "\"alpha\""],
    );
}

#[test]
fn device_assigned_by_address_and_by_ids_is_refused() {
    let error = single(&partitions(&[
        ("alpha", &["devices = [\"00:03.0\"]"]),
        ("beta", &["devices = [\"8086:10d3\"]"]),
    ]));
    assert_eq!(
        error,
        ManifestError::DeviceAssignedTwice {
            partition: "beta".into(),
            device: DeviceRef::Id {
                vendor: 0x8086,
                device: 0x10d3
            },
            address: PciAddress {
                segment: 0,
                bus: 0,
                device: 3,
                function: 0
            },
            owner: "alpha".into(),
        }
    );
    assert_says(
        &error,
        &["\"beta\"", "8086:10d3", "0000:00:03.0", "\"alpha\""],
    );
}

#[test]
fn device_listed_twice_by_one_partition_is_refused() {
    let error = single(&partitions(&[(
        "alpha",
        &["devices = [\"8086:10d3\", \"00:03.0\"]"],
    )]));
    assert!(
        matches!(&error, ManifestError::DeviceListedTwice { partition, .. } if partition == "alpha"),
        "{error:?}"
    );
    assert_says(&error, &["\"alpha\"", "0000:00:03.0", "twice"]);
}

#[test]
fn missing_devices_are_refused() {
    let errors = errors(&partitions(&[(
        "beta",
        &["devices = [\"1234:dead\", \"00:07.0\"]"],
    )]));
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(matches!(
        errors[0],
        ManifestError::NoSuchDevice {
            vendor: 0x1234,
            device: 0xdead,
            ..
        }
    ));
    assert_says(&errors[0], &["\"beta\"", "1234:dead"]);
    assert!(matches!(errors[1], ManifestError::NoSuchFunctionAt { .. }));
    assert_says(&errors[1], &["\"beta\"", "0000:00:07.0"]);
}

#[test]
fn ambiguous_ids_list_every_match() {
    let error = single(&partitions(&[("alpha", &["devices = [\"1234:11e8\"]"])]));
    assert!(
        matches!(&error, ManifestError::AmbiguousDevice { addresses, .. } if addresses.len() == 2),
        "{error:?}"
    );
    assert_says(
        &error,
        &["\"alpha\"", "1234:11e8", "0000:00:01.0", "0000:00:02.0"],
    );
}

#[test]
fn pinned_memory_overlapping_another_partition_is_refused() {
    let error = single(&partitions(&[
        ("alpha", &["host_base = 0x5000_0000"]),
        ("beta", &["host_base = 0x5100_0000"]),
    ]));
    assert_eq!(
        error,
        ManifestError::OverlapsPartition {
            partition: "beta".into(),
            range: 0x5100_0000..0x5300_0000,
            other: "alpha".into(),
            other_range: 0x5000_0000..0x5200_0000,
        }
    );
    assert_says(
        &error,
        &[
            "\"beta\"",
            "0x51000000..0x53000000",
            "\"alpha\"",
            "0x50000000..0x52000000",
        ],
    );
    // Adjacent is fine.
    validate(
        &parse(&partitions(&[
            ("alpha", &["host_base = 0x5000_0000"]),
            ("beta", &["host_base = 0x5200_0000"]),
        ]))
        .unwrap(),
        &machine(),
    )
    .expect("adjacent ranges do not overlap");
}

#[test]
fn pinned_memory_overlapping_vsva_is_refused() {
    let error = single(&partitions(&[("alpha", &["host_base = 0x20_0000"])]));
    assert!(
        matches!(error, ManifestError::OverlapsHypervisor { .. }),
        "{error:?}"
    );
    assert_says(
        &error,
        &["\"alpha\"", "0x200000..0x2200000", "0x200000..0x400000"],
    );
}

#[test]
fn pinned_memory_outside_ram_is_refused() {
    // In the hole between the two RAM ranges, and straddling the end of the first.
    for (base, range) in [
        ("0x8000_0000", "0x80000000..0x82000000"),
        ("0x7f00_0000", "0x7f000000..0x81000000"),
    ] {
        let error = single(&partitions(&[("alpha", &[&format!("host_base = {base}")])]));
        assert!(matches!(error, ManifestError::NotInRam { .. }), "{error:?}");
        assert_says(&error, &["\"alpha\"", range]);
    }
}

#[test]
fn pinned_memory_in_adjacent_ram_ranges_is_accepted() {
    let mut machine = machine();
    machine.ram = vec![(0x4000_0000, 0x5100_0000), (0x5100_0000, 0x6000_0000)];
    machine.hypervisor = (0x4000_0000, 0x4020_0000);
    machine.reserve = 0;
    let manifest = parse(&partitions(&[("alpha", &["host_base = 0x5000_0000"])])).unwrap();
    validate(&manifest, &machine).expect("the two ranges are one");
}

#[test]
fn misaligned_bases_are_refused() {
    let error = single(&partitions(&[("alpha", &["host_base = 0x5010_0000"])]));
    assert!(
        matches!(
            error,
            ManifestError::Misaligned {
                field: "host_base",
                value: 0x5010_0000,
                ..
            }
        ),
        "{error:?}"
    );
    assert_says(
        &error,
        &["\"alpha\"", "host_base", "0x50100000", "0x200000"],
    );

    let error = single(&partitions(&[("alpha", &["guest_base = 0x4000_0800"])]));
    assert!(
        matches!(
            error,
            ManifestError::Misaligned {
                field: "guest_base",
                ..
            }
        ),
        "{error:?}"
    );
    assert_says(&error, &["\"alpha\"", "guest_base", "0x40000800"]);
}

#[test]
fn host_base_zero_is_refused() {
    let errors = errors(&partitions(&[("alpha", &["host_base = 0"])]));
    let error = find(&errors, |e| matches!(e, ManifestError::HostBaseZero { .. }));
    assert_says(error, &["\"alpha\"", "host_base = 0"]);
}

#[test]
fn ranges_past_the_end_of_the_address_space_are_refused() {
    let mut manifest = parse(&partitions(&[("alpha", &[])])).unwrap();
    manifest.partitions[0].host_base = Some(0xffff_ffff_ffe0_0000);
    manifest.partitions[0].guest_base = Some(0xffff_ffff_fff0_0000);
    let errors = validate(&manifest, &machine()).expect_err("refused");
    for field in ["host_base", "guest_base"] {
        let error = find(
            &errors,
            |e| matches!(e, ManifestError::RangeOverflow { field: f, .. } if *f == field),
        );
        assert_says(error, &["\"alpha\"", field, "0x2000000"]);
    }
}

#[test]
fn guest_ram_overlapping_the_config_window_is_refused() {
    let error = single(&partitions(&[(
        "alpha",
        &["guest_base = 0x3800_0000", "memory = \"512M\""],
    )]));
    assert_eq!(
        error,
        ManifestError::OverlapsConfigWindow {
            partition: "alpha".into(),
            range: 0x3800_0000..0x5800_0000,
            window: 0x3000_0000..0x4000_0000,
        }
    );
    assert_says(
        &error,
        &[
            "\"alpha\"",
            "0x38000000..0x58000000",
            "0x30000000..0x40000000",
        ],
    );
}

#[test]
fn memory_must_hold_the_image_and_64k() {
    // The reference image loads at 0x40100000..0x40200000 and RAM starts at 0x40000000.
    let error = single(&partitions(&[("alpha", &["memory = 0x20f000"])]));
    assert_eq!(
        error,
        ManifestError::TooLittleMemory {
            partition: "alpha".into(),
            image: "reference".into(),
            memory: 0x20_f000,
            needed: 0x21_0000,
        }
    );
    assert_says(
        &error,
        &[
            "\"alpha\"",
            "0x20f000",
            "needs at least 0x210000",
            "reference",
        ],
    );
    validate(
        &parse(&partitions(&[("alpha", &["memory = 0x210000"])])).unwrap(),
        &machine(),
    )
    .expect("exactly enough");
}

#[test]
fn image_below_guest_ram_is_refused() {
    let error = single(&partitions(&[("alpha", &["guest_base = 0x4100_0000"])]));
    assert!(
        matches!(error, ManifestError::ImageOutsideRam { .. }),
        "{error:?}"
    );
    assert_says(
        &error,
        &[
            "\"alpha\"",
            "reference",
            "0x40100000..0x40200000",
            "0x41000000..0x43000000",
        ],
    );
}

#[test]
fn unknown_image_is_refused() {
    let text = partitions(&[("alpha", &[])]).replace("\"reference\"", "\"nonesuch\"");
    let error = single(&text);
    assert_eq!(
        error,
        ManifestError::UnknownImage {
            partition: "alpha".into(),
            image: "nonesuch".into()
        }
    );
    assert_says(&error, &["\"alpha\"", "\"nonesuch\""]);
}

#[test]
fn vcpus_out_of_range_are_refused() {
    for vcpus in [0, 9] {
        let error = single(&partitions(&[("alpha", &[&format!("vcpus = {vcpus}")])]));
        assert_eq!(
            error,
            ManifestError::BadVcpus {
                partition: "alpha".into(),
                vcpus
            }
        );
        assert_says(&error, &["\"alpha\"", &format!("vcpus = {vcpus}")]);
    }
    validate(
        &parse(&partitions(&[("alpha", &["vcpus = 8"])])).unwrap(),
        &machine(),
    )
    .expect("8 is fine");
}

#[test]
fn pasid_quotas_out_of_range_are_refused() {
    let error = single(&partitions(&[("alpha", &["pasid_quota = 1_048_576"])]));
    assert!(matches!(
        error,
        ManifestError::BadPasidQuota {
            quota: 1_048_576,
            ..
        }
    ));
    assert_says(&error, &["\"alpha\"", "1048576"]);

    let error = single(&partitions(&[
        ("alpha", &["pasid_quota = 600_000"]),
        ("beta", &[]),
        ("gamma", &["pasid_quota = 500_000"]),
    ]));
    assert_eq!(
        error,
        ManifestError::PasidTotal {
            total: 1_100_000,
            quotas: vec![("alpha".into(), 600_000), ("gamma".into(), 500_000)],
        }
    );
    assert_says(
        &error,
        &["1100000", "\"alpha\" 600000", "\"gamma\" 500000", "1048575"],
    );
    validate(
        &parse(&partitions(&[
            ("alpha", &["pasid_quota = 1_000_000"]),
            ("beta", &["pasid_quota = 48_575"]),
        ]))
        .unwrap(),
        &machine(),
    )
    .expect("exactly all PASIDs");
}

#[test]
fn page_request_timeouts_out_of_range_are_refused() {
    for ms in [0, 60_001, u32::MAX] {
        let error = single(&partitions(&[(
            "alpha",
            &[&format!("page_request_timeout_ms = {ms}")],
        )]));
        assert_eq!(
            error,
            ManifestError::BadPageRequestTimeout {
                partition: "alpha".into(),
                ms
            }
        );
        assert_says(
            &error,
            &[
                "\"alpha\"",
                &format!("page_request_timeout_ms = {ms}"),
                "1..=60000",
            ],
        );
    }
    assert_eq!(MAX_PAGE_REQUEST_TIMEOUT_MS, 60_000);
    for ms in [
        1,
        DEFAULT_PAGE_REQUEST_TIMEOUT_MS,
        MAX_PAGE_REQUEST_TIMEOUT_MS,
    ] {
        validate(
            &parse(&partitions(&[(
                "alpha",
                &[&format!("page_request_timeout_ms = {ms}")],
            )]))
            .unwrap(),
            &machine(),
        )
        .unwrap_or_else(|e| panic!("{ms} ms refused: {e:?}"));
    }
    // A manifest built in code is checked the same way.
    let mut manifest = parse(&partitions(&[("alpha", &[]), ("beta", &[])])).unwrap();
    manifest.partitions[1].page_request_timeout_ms = 0;
    assert_eq!(
        validate(&manifest, &machine()).unwrap_err(),
        vec![ManifestError::BadPageRequestTimeout {
            partition: "beta".into(),
            ms: 0
        }]
    );
}

#[test]
fn memory_sizes_must_be_whole_pages() {
    let error = single(&partitions(&[("alpha", &["memory = 1073741825"])]));
    assert_eq!(
        error,
        ManifestError::BadMemory {
            partition: "alpha".into(),
            memory: (1 << 30) + 1
        }
    );
    assert_says(&error, &["\"alpha\"", "0x40000001"]);
    let errors = errors(&partitions(&[("alpha", &["memory = 0"])]));
    let error = find(&errors, |e| {
        matches!(e, ManifestError::BadMemory { memory: 0, .. })
    });
    assert_says(error, &["\"alpha\"", "memory 0x0"]);
}

#[test]
fn partitions_must_fit_in_ram_together() {
    // 3071 MiB of RAM - 64 MiB reserve - 2 MiB vsva = 3005 MiB.
    let error = single(&partitions(&[
        ("alpha", &["memory = \"1G\""]),
        ("beta", &["memory = \"1G\""]),
        ("gamma", &["memory = \"1G\""]),
    ]));
    assert!(
        matches!(error, ManifestError::MemoryTotal { total: 0xc000_0000, available, .. }
            if available == 3005 << 20),
        "{error:?}"
    );
    assert_says(
        &error,
        &["3072 MiB", "3005 MiB", "\"alpha\" 1024 MiB", "\"gamma\""],
    );
}

#[test]
fn long_cmdline_is_refused() {
    let long = "x".repeat(256);
    let error = single(&partitions(&[(
        "alpha",
        &[&format!("cmdline = \"{long}\"")],
    )]));
    assert_eq!(
        error,
        ManifestError::CmdlineTooLong {
            partition: "alpha".into(),
            len: 256
        }
    );
    assert_says(&error, &["\"alpha\"", "256 bytes"]);
}

#[test]
fn too_many_devices_are_refused() {
    let devices: Vec<String> = (0..17).map(|i| format!("\"00:{i:02x}.0\"")).collect();
    let line = format!("devices = [{}]", devices.join(", "));
    let errors = errors(&partitions(&[("alpha", &[&line])]));
    let error = find(&errors, |e| {
        matches!(e, ManifestError::TooManyDevices { count: 17, .. })
    });
    assert_says(error, &["\"alpha\"", "17 devices"]);
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = partitions(&[
        (
            "alpha",
            &[
                "vcpus = 0",
                "devices = [\"00:01.0\"]",
                "host_base = 0x5000_0000",
            ],
        ),
        ("alpha", &["pasid_quota = 2_000_000"]),
        (
            "beta",
            &[
                "devices = [\"0000:00:01.0\", \"1234:dead\"]",
                "host_base = 0x5100_0000",
                "pasid_quota = 600_000",
            ],
        ),
        (
            "gamma!",
            &[
                "memory = 0x20f000",
                "pasid_quota = 500_000",
                "page_request_timeout_ms = 0",
                "devices_without_reset = [\"00:02.0\"]",
            ],
        ),
    ])
    .replace(
        "name = \"beta\"\nimage = \"reference\"",
        "name = \"beta\"\nimage = \"nope\"",
    );
    let errors = errors(&text);
    let kinds: Vec<&str> = errors
        .iter()
        .map(|e| match e {
            ManifestError::DuplicateName { .. } => "duplicate",
            ManifestError::BadName { .. } => "name",
            ManifestError::BadVcpus { .. } => "vcpus",
            ManifestError::BadPasidQuota { .. } => "pasid",
            ManifestError::PasidTotal { .. } => "pasid total",
            ManifestError::BadPageRequestTimeout { .. } => "timeout",
            ManifestError::UnknownImage { .. } => "image",
            ManifestError::TooLittleMemory { .. } => "too little",
            ManifestError::OverlapsPartition { .. } => "overlap",
            ManifestError::DeviceAssignedTwice { .. } => "assigned twice",
            ManifestError::NoSuchDevice { .. } => "no device",
            ManifestError::DeviceWithoutResetNotAssigned { .. } => "without reset",
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    for kind in [
        "duplicate",
        "name",
        "vcpus",
        "pasid",
        "pasid total",
        "timeout",
        "image",
        "too little",
        "overlap",
        "assigned twice",
        "no device",
        "without reset",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {errors:#?}");
    }
}

#[test]
fn guest_ram_overlapping_the_table_window_is_refused() {
    // 0x1f00_0000 + 32 MiB reaches into the window at 0x2000_0000 (the image
    // does not fit there either: a second error, not this test's).
    let all = errors(&partitions(&[(
        "alpha",
        &["guest_base = 0x1f00_0000", "memory = \"32M\""],
    )]));
    let error = find(&all, |e| {
        matches!(e, ManifestError::OverlapsTableWindow { .. })
    });
    assert_eq!(
        error,
        &ManifestError::OverlapsTableWindow {
            partition: "alpha".into(),
            range: 0x1f00_0000..0x2100_0000,
            window: 0x2000_0000..0x2100_0000,
        }
    );
    assert_says(
        error,
        &["\"alpha\"", "0x1f000000..0x21000000", "IOMMU tables"],
    );
    // Below the window: no such error.
    let all = errors(&partitions(&[(
        "alpha",
        &["guest_base = 0x1e00_0000", "memory = \"32M\""],
    )]));
    assert!(
        !all.iter()
            .any(|e| matches!(e, ManifestError::OverlapsTableWindow { .. }))
    );
}
