//! `devices_without_reset`: validation of the opt-in for devices that cannot
//! be reset between owners.

use std::vec;

use super::validate::{errors, single};
use super::{address, assert_says, machine, partitions};
use crate::{DeviceRef, ManifestError, parse, validate};

#[test]
fn devices_without_reset_among_the_devices_are_accepted() {
    // Spelled as in `devices`: "0000:00:03.0" is the same address as "00:03.0".
    validate(
        &parse(&partitions(&[
            (
                "alpha",
                &[
                    "devices = [\"00:03.0\", \"00:01.0\"]",
                    "devices_without_reset = [\"0000:00:03.0\"]",
                ],
            ),
            (
                "beta",
                &[
                    "devices = [\"1:2:3.4\", \"8086:2922\"]",
                    "devices_without_reset = [\"8086:2922\", \"0001:02:03.4\"]",
                ],
            ),
        ]))
        .unwrap(),
        &machine(),
    )
    .expect("every entry is one of its partition's devices");
}

#[test]
fn device_without_reset_not_in_devices_is_refused_by_address() {
    let error = single(&partitions(&[
        ("alpha", &["devices = [\"00:01.0\"]"]),
        (
            "beta",
            &[
                "devices = [\"00:03.0\"]",
                // alpha's device, not beta's.
                "devices_without_reset = [\"00:01.0\"]",
            ],
        ),
    ]));
    assert_eq!(
        error,
        ManifestError::DeviceWithoutResetNotAssigned {
            partition: "beta".into(),
            device: address(0, 0, 1, 0),
        }
    );
    assert_says(
        &error,
        &[
            "\"beta\"",
            "devices_without_reset",
            "0000:00:01.0",
            "not in its devices",
        ],
    );
    // The same function named by its IDs in `devices` is not the same entry.
    let error = single(&partitions(&[(
        "alpha",
        &[
            "devices = [\"8086:10d3\"]",
            "devices_without_reset = [\"00:03.0\"]",
        ],
    )]));
    assert_eq!(
        error,
        ManifestError::DeviceWithoutResetNotAssigned {
            partition: "alpha".into(),
            device: address(0, 0, 3, 0),
        }
    );
}

#[test]
fn device_without_reset_not_in_devices_is_refused_by_ids() {
    // 1234:11e8 is ambiguous on this machine; as an entry that is not assigned it is never
    // resolved, so the one error is that it is not in `devices`.
    let error = single(&partitions(&[(
        "alpha",
        &[
            "devices = [\"8086:10d3\"]",
            "devices_without_reset = [\"1234:11e8\"]",
        ],
    )]));
    assert_eq!(
        error,
        ManifestError::DeviceWithoutResetNotAssigned {
            partition: "alpha".into(),
            device: DeviceRef::Id {
                vendor: 0x1234,
                device: 0x11e8
            },
        }
    );
    assert_says(&error, &["\"alpha\"", "devices_without_reset", "1234:11e8"]);
    // The same function named by its address in `devices` is not the same entry.
    let error = single(&partitions(&[(
        "alpha",
        &[
            "devices = [\"00:03.0\"]",
            "devices_without_reset = [\"8086:10d3\"]",
        ],
    )]));
    assert_eq!(
        error,
        ManifestError::DeviceWithoutResetNotAssigned {
            partition: "alpha".into(),
            device: DeviceRef::Id {
                vendor: 0x8086,
                device: 0x10d3
            },
        }
    );
    assert_says(&error, &["\"alpha\"", "8086:10d3"]);
}

#[test]
fn device_without_reset_listed_twice_is_refused_once() {
    // Three mentions of one address, two spellings: one error.
    let error = single(&partitions(&[(
        "alpha",
        &[
            "devices = [\"00:03.0\", \"8086:2922\"]",
            "devices_without_reset = [\"00:03.0\", \"8086:2922\", \"0000:00:03.0\", \"00:03.0\"]",
        ],
    )]));
    assert_eq!(
        error,
        ManifestError::DeviceWithoutResetListedTwice {
            partition: "alpha".into(),
            device: address(0, 0, 3, 0),
        }
    );
    assert_says(
        &error,
        &[
            "\"alpha\"",
            "devices_without_reset",
            "0000:00:03.0",
            "more than once",
        ],
    );
    // Not in `devices` and repeated: each mistake once.
    let errors = errors(&partitions(&[(
        "alpha",
        &["devices_without_reset = [\"8086:10d3\", \"8086:10d3\"]"],
    )]));
    let id = DeviceRef::Id {
        vendor: 0x8086,
        device: 0x10d3,
    };
    assert_eq!(
        errors,
        vec![
            ManifestError::DeviceWithoutResetNotAssigned {
                partition: "alpha".into(),
                device: id,
            },
            ManifestError::DeviceWithoutResetListedTwice {
                partition: "alpha".into(),
                device: id,
            },
        ]
    );
    // A manifest built in code is checked the same way.
    let mut manifest = parse(&partitions(&[("alpha", &["devices = [\"00:03.0\"]"])])).unwrap();
    manifest.partitions[0].devices_without_reset = vec![address(0, 0, 3, 0); 2];
    assert_eq!(
        validate(&manifest, &machine()).unwrap_err(),
        vec![ManifestError::DeviceWithoutResetListedTwice {
            partition: "alpha".into(),
            device: address(0, 0, 3, 0),
        }]
    );
}
