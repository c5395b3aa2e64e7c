use std::string::ToString;
use std::{format, vec};

use super::{EXAMPLE, address, assert_says, partitions};
use crate::spec::{parse_device, parse_size};
use crate::{
    DEFAULT_PAGE_REQUEST_TIMEOUT_MS, DeviceRef, ManifestError, PartitionSpec, PciAddress, parse,
};

#[test]
fn example_manifest_parses_every_field() {
    let manifest = parse(EXAMPLE).expect("example parses");
    assert_eq!(
        manifest.partitions,
        vec![
            PartitionSpec {
                name: "alpha".into(),
                memory: 32 << 20,
                image: "reference".into(),
                vcpus: 2,
                pasid_quota: 8,
                devices: vec![address(0, 0, 1, 0)],
                devices_without_reset: vec![address(0, 0, 1, 0)],
                cmdline: "test=memory".into(),
                host_base: Some(0x5000_0000),
                guest_base: None,
                page_request_timeout_ms: DEFAULT_PAGE_REQUEST_TIMEOUT_MS,
            },
            PartitionSpec {
                name: "beta".into(),
                memory: 64 << 20,
                image: "reference".into(),
                vcpus: 1,
                pasid_quota: 0,
                devices: vec![
                    DeviceRef::Id {
                        vendor: 0x8086,
                        device: 0x10d3
                    },
                    address(1, 2, 3, 4)
                ],
                devices_without_reset: vec![],
                cmdline: "test=dma".into(),
                host_base: None,
                guest_base: Some(0x4000_0000),
                page_request_timeout_ms: 250,
            },
        ]
    );
}

#[test]
fn defaults_fill_optional_keys() {
    let manifest = parse(&partitions(&[("solo", &[])])).expect("parses");
    let p = &manifest.partitions[0];
    assert_eq!(
        (p.vcpus, p.pasid_quota, p.devices.len(), p.cmdline.as_str()),
        (1, 0, 0, "")
    );
    assert_eq!((p.host_base, p.guest_base), (None, None));
    assert_eq!(p.page_request_timeout_ms, 1000);
    assert!(p.devices_without_reset.is_empty());
    assert_eq!(DEFAULT_PAGE_REQUEST_TIMEOUT_MS, 1000);
}

#[test]
fn page_request_timeout_is_kept_as_written() {
    // Parsing keeps any u32; the range is validate's (0 and 60_001 parse too).
    for ms in [0, 1, 250, 60_000, 60_001, u32::MAX] {
        let extra = format!("page_request_timeout_ms = {ms}");
        let manifest = parse(&partitions(&[("alpha", &[&extra])])).expect(&extra);
        assert_eq!(
            manifest.partitions[0].page_request_timeout_ms, ms,
            "{extra}"
        );
    }
    let manifest = parse(&partitions(&[(
        "alpha",
        &["page_request_timeout_ms = 5_000"],
    )]))
    .expect("underscores parse");
    assert_eq!(manifest.partitions[0].page_request_timeout_ms, 5000);
}

#[test]
fn devices_without_reset_parse_like_devices() {
    let manifest = parse(&partitions(&[(
        "alpha",
        &[
            "devices = [\"00:01.0\", \"8086:10d3\", \"1:2:3.4\"]",
            "devices_without_reset = [\"1234:11e8\", \"0001:02:03.4\", \"00:01.0\"]",
        ],
    )]))
    .expect("parses");
    let p = &manifest.partitions[0];
    // Kept as written, in the manifest's order; whether each is in `devices` is validate's.
    assert_eq!(
        p.devices_without_reset,
        vec![
            DeviceRef::Id {
                vendor: 0x1234,
                device: 0x11e8
            },
            address(1, 2, 3, 4),
            address(0, 0, 1, 0),
        ]
    );
    assert_eq!(p.devices.len(), 3);
    let manifest = parse(&partitions(&[("alpha", &["devices_without_reset = []"])])).unwrap();
    assert!(manifest.partitions[0].devices_without_reset.is_empty());
}

#[test]
fn empty_text_is_an_empty_manifest() {
    assert!(parse("").expect("parses").partitions.is_empty());
    assert!(parse("# nothing\n").expect("parses").partitions.is_empty());
}

#[test]
fn sizes_take_suffixes_and_plain_bytes() {
    for (text, bytes) in [
        ("4096", 4096),
        ("64K", 64 << 10),
        ("64k", 64 << 10),
        ("32M", 32 << 20),
        ("2G", 2 << 30),
        ("3g", 3 << 30),
        ("0", 0),
    ] {
        assert_eq!(parse_size(text), Some(bytes), "{text}");
    }
    for text in [
        "",
        "M",
        "32Q",
        "-1",
        "1.5M",
        " 32M",
        "32 M",
        "32MB",
        "0x1000",
        "99999999999G",
    ] {
        assert_eq!(parse_size(text), None, "{text:?}");
    }
    let manifest = parse(&partitions(&[("a", &["memory = 33554432"])])).expect("parses");
    assert_eq!(manifest.partitions[0].memory, 32 << 20);
    let manifest = parse(&partitions(&[("a", &["memory = \"8192\""])])).expect("parses");
    assert_eq!(manifest.partitions[0].memory, 8192);
}

#[test]
fn device_names_parse_by_address_and_by_ids() {
    for (text, device) in [
        ("00:01.0", address(0, 0, 1, 0)),
        ("0000:00:02.0", address(0, 0, 2, 0)),
        ("ff:1f.7", address(0, 0xff, 0x1f, 7)),
        ("1:2:3.4", address(1, 2, 3, 4)),
        ("ABCD:Ef:0a.1", address(0xabcd, 0xef, 0x0a, 1)),
        (
            "1234:11e8",
            DeviceRef::Id {
                vendor: 0x1234,
                device: 0x11e8,
            },
        ),
    ] {
        assert_eq!(parse_device(text), Some(device), "{text}");
    }
    for text in [
        "",
        "00:20.0",
        "00:01.8",
        "00:01",
        "123:11e8",
        "12345:11e8",
        "1234:11e8:0",
        "g0:01.0",
        "+1:01.0",
        "0:0:0:0.0",
        "00000:00:01.0",
        "000:01.0",
        "00:01.0.1",
        "00:.0",
    ] {
        assert_eq!(parse_device(text), None, "{text:?}");
    }
}

#[test]
fn pci_address_displays_in_full() {
    let DeviceRef::Address(a) = address(1, 2, 3, 4) else {
        unreachable!()
    };
    assert_eq!(a.to_string(), "0001:02:03.4");
    assert_eq!(PciAddress::from_devfn(1, 2, a.devfn()), a);
}

#[test]
fn unknown_key_names_key_and_partition() {
    let text = partitions(&[("alpha", &[]), ("beta", &["memroy = \"32M\""])]);
    let error = parse(&text).expect_err("refused");
    assert!(
        matches!(&error, ManifestError::UnknownKey { partition, key, line: 6 }
            if partition == "beta" && key == "memroy"),
        "{error:?}"
    );
    assert_says(
        &error,
        &[
            "\"beta\"",
            "memroy",
            "line 6",
            "page_request_timeout_ms",
            "devices_without_reset",
        ],
    );
    // A near miss of the new key is unknown too.
    let text = partitions(&[("alpha", &["device_without_reset = []"])]);
    assert!(matches!(
        parse(&text).expect_err("refused"),
        ManifestError::UnknownKey { key, .. } if key == "device_without_reset"
    ));
}

#[test]
fn unknown_top_level_key_is_refused_with_its_line() {
    let text = "[[partition]]\nname = \"a\"\nimage = \"r\"\nmemory = 4096\n\n[machine]\nram = 1\n";
    let error = parse(text).expect_err("refused");
    assert!(
        matches!(&error, ManifestError::Toml { line: Some(6), .. }),
        "{error:?}"
    );
    assert_says(&error, &["line 6", "machine"]);
}

#[test]
fn syntax_error_names_the_line() {
    let text = "[[partition]]\nname = \"alpha\"\nimage = \"reference\nmemory = \"32M\"\n";
    let error = parse(text).expect_err("refused");
    assert!(
        matches!(&error, ManifestError::Toml { line: Some(3), .. }),
        "{error:?}"
    );
    assert_says(&error, &["line 3"]);
}

#[test]
fn partition_without_name_is_refused() {
    let text = format_args!(
        "{}[[partition]]\nimage = \"x\"\n",
        partitions(&[("a", &[])])
    )
    .to_string();
    let error = parse(&text).expect_err("refused");
    assert_eq!(error, ManifestError::NoName { index: 1, line: 6 });
    assert_says(&error, &["number 2", "line 6"]);
    let error = parse("[[partition]]\nname = 7\n").expect_err("refused");
    assert!(matches!(error, ManifestError::NoName { index: 0, .. }));
}

#[test]
fn bad_values_name_partition_key_and_value() {
    for (extra, needles) in [
        ("memory = \"32Q\"", &["\"alpha\"", "32Q", "memory"][..]),
        ("memory = -1", &["\"alpha\"", "-1", "memory"]),
        ("vcpus = \"two\"", &["\"alpha\"", "two", "vcpus"]),
        ("vcpus = 5000000000", &["\"alpha\"", "5000000000", "vcpus"]),
        ("pasid_quota = -3", &["\"alpha\"", "-3", "pasid_quota"]),
        ("devices = [\"00:01\"]", &["\"alpha\"", "00:01", "devices"]),
        (
            "devices_without_reset = [\"00:01\"]",
            &["\"alpha\"", "00:01", "devices_without_reset"],
        ),
        (
            "devices_without_reset = \"1234:11e8\"",
            &["\"alpha\"", "1234:11e8", "devices_without_reset"],
        ),
        (
            "devices = \"00:01.0\"",
            &["\"alpha\"", "00:01.0", "devices"],
        ),
        ("host_base = \"high\"", &["\"alpha\"", "high", "host_base"]),
        ("cmdline = 3", &["\"alpha\"", "3", "cmdline"]),
        (
            "page_request_timeout_ms = \"1s\"",
            &["\"alpha\"", "1s", "page_request_timeout_ms"],
        ),
        (
            "page_request_timeout_ms = -1",
            &["\"alpha\"", "-1", "page_request_timeout_ms"],
        ),
        (
            "page_request_timeout_ms = 5000000000",
            &["\"alpha\"", "5000000000", "page_request_timeout_ms"],
        ),
        (
            "page_request_timeout_ms = 1.5",
            &["\"alpha\"", "1.5", "page_request_timeout_ms"],
        ),
    ] {
        let error = parse(&partitions(&[("alpha", &[extra])])).expect_err(extra);
        assert!(
            matches!(&error, ManifestError::BadValue { partition, line: 1, .. } if partition == "alpha"),
            "{extra}: {error:?}"
        );
        assert_says(&error, needles);
    }
}

#[test]
fn missing_required_key_is_named() {
    let error = parse("[[partition]]\nname = \"alpha\"\nmemory = \"32M\"\n").expect_err("refused");
    assert!(matches!(error, ManifestError::BadValue { .. }), "{error:?}");
    assert_says(&error, &["\"alpha\"", "image"]);
}
