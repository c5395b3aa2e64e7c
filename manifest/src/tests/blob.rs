use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use super::{EXAMPLE, XorShift, function, machine, partitions};
use crate::blob::{
    FORMAT_VERSION, HEADER_SIZE, R_CMDLINE_OFFSET, R_DEVICE_COUNT, R_IMAGE_LEN, R_IMAGE_OFFSET,
    R_NAME, R_NAME_LEN, R_REQUEST_TIMEOUT_MS, R_RESERVED, R_VCPUS, R_WITHOUT_RESET, RECORD_SIZE,
};
use crate::validate::resolve;
use crate::{
    Arch, Blob, DEFAULT_PAGE_REQUEST_TIMEOUT_MS, DecodeError, MAX_CMDLINE_LEN, MAX_DEVICES,
    MAX_PAGE_REQUEST_TIMEOUT_MS, MAX_VCPUS, Manifest, ManifestError, encode, parse, validate,
};

/// An image whose bytes tell where they are, so a misplaced slice shows.
fn image(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn example_images() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("reference".to_string(), image(1001, 7)),
        ("unused".to_string(), image(64, 1)),
    ])
}

fn example_blob() -> Vec<u8> {
    encode(&parse(EXAMPLE).unwrap(), &example_images(), &machine()).expect("encodes")
}

/// Checks that every field of `blob` equals what `manifest` says, after resolution.
#[track_caller]
fn assert_matches(blob: &Blob<'_>, manifest: &Manifest, images: &BTreeMap<String, Vec<u8>>) {
    let machine = machine();
    assert_eq!(blob.arch(), Some(machine.arch));
    assert_eq!(blob.partition_count(), manifest.partitions.len());
    let decoded: Vec<_> = blob.partitions().collect();
    assert_eq!(decoded.len(), manifest.partitions.len());
    for (p, spec) in decoded.iter().zip(&manifest.partitions) {
        assert_eq!(p.name(), spec.name);
        assert_eq!(p.memory(), spec.memory);
        assert_eq!(p.host_base(), spec.host_base);
        assert_eq!(
            p.guest_base(),
            spec.guest_base.unwrap_or(machine.default_guest_base)
        );
        assert_eq!(p.vcpus(), spec.vcpus);
        assert_eq!(p.pasid_quota(), spec.pasid_quota);
        assert_eq!(p.page_request_timeout_ms(), spec.page_request_timeout_ms);
        let devices: Vec<_> = spec
            .devices
            .iter()
            .map(|d| resolve(&spec.name, d, &machine).unwrap())
            .collect();
        assert_eq!(p.devices().collect::<Vec<_>>(), devices);
        let exempt: Vec<bool> = spec
            .devices
            .iter()
            .map(|d| spec.devices_without_reset.contains(d))
            .collect();
        let without_reset: Vec<_> = devices
            .iter()
            .zip(&exempt)
            .filter(|(_, exempt)| **exempt)
            .map(|(address, _)| *address)
            .collect();
        assert_eq!(p.devices_without_reset().collect::<Vec<_>>(), without_reset);
        for slot in 0..=MAX_DEVICES {
            assert_eq!(
                p.may_skip_reset(slot),
                exempt.get(slot).copied().unwrap_or(false),
                "{} slot {slot}",
                spec.name
            );
        }
        assert_eq!(p.cmdline(), spec.cmdline);
        assert_eq!(p.image(), images[&spec.image].as_slice());
    }
}

/// Reads every field of every partition and checks each slice lies inside `bytes`.
fn touch_everything(blob: &Blob<'_>, bytes: &[u8]) {
    let inside = |slice: &[u8]| {
        let outer = bytes.as_ptr_range();
        let inner = slice.as_ptr_range();
        outer.start <= inner.start && inner.end <= outer.end
    };
    let _ = format!("{blob:?}");
    for p in blob.partitions() {
        assert!(inside(p.name().as_bytes()) && inside(p.cmdline().as_bytes()) && inside(p.image()));
        assert!((1..=MAX_VCPUS).contains(&p.vcpus()));
        assert!(p.devices().count() <= MAX_DEVICES);
        // The exempt devices are some of the devices, in slot order, and no slot past them
        // is exempt.
        let devices: Vec<_> = p.devices().collect();
        let exempt: Vec<_> = (0..devices.len())
            .filter(|&slot| p.may_skip_reset(slot))
            .map(|slot| devices[slot])
            .collect();
        assert_eq!(p.devices_without_reset().collect::<Vec<_>>(), exempt);
        assert!((devices.len()..=64).all(|slot| !p.may_skip_reset(slot)));
        assert!(!p.may_skip_reset(usize::MAX));
        assert!(p.cmdline().len() <= MAX_CMDLINE_LEN);
        assert!((1..=MAX_PAGE_REQUEST_TIMEOUT_MS).contains(&p.page_request_timeout_ms()));
        let _ = (p.memory(), p.host_base(), p.guest_base(), p.pasid_quota());
        let _ = format!("{p:?}");
    }
}

#[test]
fn example_round_trips_through_the_blob() {
    let manifest = parse(EXAMPLE).unwrap();
    validate(&manifest, &machine()).expect("valid");
    let images = example_images();
    let bytes = encode(&manifest, &images, &machine()).expect("encodes");
    let blob = Blob::parse(&bytes).expect("decodes");
    assert_matches(&blob, &manifest, &images);

    let decoded: Vec<_> = blob.partitions().collect();
    // alpha leaves the timeout out, beta sets it.
    assert_eq!(
        [
            decoded[0].page_request_timeout_ms(),
            decoded[1].page_request_timeout_ms()
        ],
        [DEFAULT_PAGE_REQUEST_TIMEOUT_MS, 250]
    );
    assert!(format!("{:?}", decoded[1]).contains("page_request_timeout_ms: 250"));
    // alpha's edu may be assigned without a reset; beta's devices may not.
    assert_eq!(
        decoded[0]
            .devices_without_reset()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        ["0000:00:01.0"]
    );
    assert_eq!(decoded[1].devices_without_reset().count(), 0);
    let debug = format!("{:?}", decoded[0]);
    assert!(
        debug.contains(
            "devices_without_reset: [PciAddress { segment: 0, bus: 0, device: 1, function: 0 }]"
        ),
        "{debug}"
    );
    assert!(
        format!("{:?}", decoded[1]).contains("devices_without_reset: []"),
        "{:?}",
        decoded[1]
    );
    assert_eq!(
        decoded[1]
            .devices()
            .map(|d| d.to_string())
            .collect::<Vec<_>>(),
        ["0000:00:03.0", "0001:02:03.4"]
    );
    // The shared image is stored once: same bytes in the blob, and the blob is no longer
    // than the header, two records, one image and the command lines.
    assert_eq!(decoded[0].image().as_ptr(), decoded[1].image().as_ptr());
    let expected_len =
        HEADER_SIZE + 2 * RECORD_SIZE + 1001 + "test=memory".len() + "test=dma".len();
    assert_eq!(bytes.len(), expected_len);
}

#[test]
fn distinct_images_are_8_aligned_and_shared_ones_stored_once() {
    let mut manifest = parse(&partitions(&[
        ("a", &[]),
        ("b", &[]),
        ("c", &["cmdline = \"é\""]),
        ("d", &[]),
    ]))
    .unwrap();
    for (p, image) in manifest
        .partitions
        .iter_mut()
        .zip(["linux", "reference", "linux", "third"])
    {
        p.image = image.into();
    }
    let mut machine = machine();
    machine
        .image_span
        .insert("third".into(), (0x4010_0000, 0x4010_1000));
    let images = BTreeMap::from([
        ("linux".to_string(), image(13, 3)),
        ("reference".to_string(), image(5, 9)),
        ("third".to_string(), image(1, 200)),
    ]);
    let bytes = encode(&manifest, &images, &machine).expect("encodes");
    let blob = Blob::parse(&bytes).expect("decodes");
    let decoded: Vec<_> = blob.partitions().collect();
    for (p, spec) in decoded.iter().zip(&manifest.partitions) {
        assert_eq!(p.image(), images[&spec.image].as_slice());
        let offset = p.image().as_ptr() as usize - bytes.as_ptr() as usize;
        assert_eq!(offset % 8, 0, "{} at {offset}", p.name());
    }
    assert_eq!(decoded[2].cmdline(), "é");
    assert_eq!(decoded[0].image().as_ptr(), decoded[2].image().as_ptr());
    assert_ne!(decoded[0].image().as_ptr(), decoded[1].image().as_ptr());
    // Images at +0 (13 bytes), +16 (5), +24 (1), then the cmdline "é" (2 bytes).
    assert_eq!(bytes.len(), HEADER_SIZE + 4 * RECORD_SIZE + 25 + 2);
}

#[test]
fn empty_blob_has_no_partitions() {
    for blob in [Blob::parse(&[]).expect("empty decodes"), Blob::empty()] {
        assert!(blob.is_empty());
        assert_eq!(blob.partition_count(), 0);
        assert_eq!(blob.arch(), None);
        assert_eq!(blob.partitions().count(), 0);
    }
}

#[test]
fn header_is_checked() {
    let good = example_blob();
    let with = |at: usize, bytes: &[u8]| {
        let mut blob = good.clone();
        blob[at..at + bytes.len()].copy_from_slice(bytes);
        blob
    };
    assert_eq!(
        Blob::parse(&with(0, b"VSVAPARX")).unwrap_err(),
        DecodeError::BadMagic
    );
    // Version 1 (144-byte records, no page request timeout) and version 2 (no
    // devices-without-reset mask) are no longer read.
    for version in [1u32, 2, 4] {
        assert_eq!(
            Blob::parse(&with(8, &version.to_le_bytes())).unwrap_err(),
            DecodeError::UnsupportedVersion(version)
        );
    }
    assert_eq!(
        Blob::parse(&with(12, &7u32.to_le_bytes())).unwrap_err(),
        DecodeError::UnknownArch(7)
    );
    assert_eq!(
        Blob::parse(&with(16, &65u32.to_le_bytes())).unwrap_err(),
        DecodeError::TooManyPartitions(65)
    );
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        Blob::parse(&longer).unwrap_err(),
        DecodeError::LengthMismatch {
            header: good.len() as u32,
            len: good.len() + 1
        }
    );
    let claims_more = with(20, &(good.len() as u32 + 1).to_le_bytes());
    assert_eq!(
        Blob::parse(&claims_more).unwrap_err(),
        DecodeError::Truncated {
            needed: good.len() + 1,
            len: good.len()
        }
    );
    // More records than the blob holds.
    let many = with(16, &60u32.to_le_bytes());
    assert!(matches!(
        Blob::parse(&many).unwrap_err(),
        DecodeError::Truncated { .. }
    ));
    assert_eq!(
        FORMAT_VERSION,
        u32::from_le_bytes(good[8..12].try_into().unwrap())
    );
    assert_eq!(
        Arch::X86_64.code(),
        u32::from_le_bytes(good[12..16].try_into().unwrap())
    );
}

#[test]
fn records_are_checked() {
    let good = example_blob();
    let record = |i: usize, at: usize| HEADER_SIZE + i * RECORD_SIZE + at;
    let with = |at: usize, bytes: &[u8]| {
        let mut blob = good.clone();
        blob[at..at + bytes.len()].copy_from_slice(bytes);
        Blob::parse(&blob).unwrap_err()
    };
    assert_eq!(
        with(record(1, R_IMAGE_OFFSET), &0u32.to_le_bytes()),
        DecodeError::OutOfBounds {
            partition: 1,
            field: "image",
            offset: 0,
            len: 1001
        }
    );
    assert!(matches!(
        with(record(0, R_IMAGE_LEN), &u32::MAX.to_le_bytes()),
        DecodeError::OutOfBounds {
            partition: 0,
            field: "image",
            ..
        }
    ));
    assert!(matches!(
        with(
            record(0, R_CMDLINE_OFFSET),
            &(good.len() as u32).to_le_bytes()
        ),
        DecodeError::OutOfBounds {
            partition: 0,
            field: "cmdline",
            ..
        }
    ));
    assert_eq!(
        with(record(0, R_DEVICE_COUNT), &[17]),
        DecodeError::TooManyDevices {
            partition: 0,
            count: 17
        }
    );
    assert_eq!(
        with(record(1, R_VCPUS), &[0]),
        DecodeError::BadValue {
            partition: 1,
            field: "vcpus"
        }
    );
    assert_eq!(
        with(record(0, R_NAME_LEN), &[33]),
        DecodeError::BadValue {
            partition: 0,
            field: "name"
        }
    );
    assert_eq!(
        with(record(0, R_NAME), &[0xff]),
        DecodeError::BadUtf8 {
            partition: 0,
            field: "name"
        }
    );
    // The last byte of the blob is the end of beta's command line.
    assert_eq!(
        with(good.len() - 1, &[0xff]),
        DecodeError::BadUtf8 {
            partition: 1,
            field: "cmdline"
        }
    );
    for ms in [0, MAX_PAGE_REQUEST_TIMEOUT_MS + 1, u32::MAX] {
        assert_eq!(
            with(record(1, R_REQUEST_TIMEOUT_MS), &ms.to_le_bytes()),
            DecodeError::BadValue {
                partition: 1,
                field: "page_request_timeout_ms"
            },
            "{ms} ms"
        );
    }
    let message = with(record(1, R_IMAGE_OFFSET), &0u32.to_le_bytes()).to_string();
    assert!(
        message.contains("partition 1") && message.contains("image"),
        "{message}"
    );
}

#[test]
fn page_request_timeout_has_its_place_in_the_record() {
    assert_eq!((FORMAT_VERSION, RECORD_SIZE), (3, 152));
    let mut manifest = parse(EXAMPLE).unwrap();
    let images = example_images();
    for (alpha, beta) in [(1, MAX_PAGE_REQUEST_TIMEOUT_MS), (54_321, 7)] {
        manifest.partitions[0].page_request_timeout_ms = alpha;
        manifest.partitions[1].page_request_timeout_ms = beta;
        let bytes = encode(&manifest, &images, &machine()).expect("encodes");
        // After the timeout: the devices-without-reset mask (alpha's one device is exempt,
        // beta's are not), then 2 reserved bytes, zero.
        for (i, (ms, mask)) in [(alpha, [1, 0]), (beta, [0, 0])].into_iter().enumerate() {
            let record = HEADER_SIZE + i * RECORD_SIZE;
            let at = record + R_REQUEST_TIMEOUT_MS;
            assert_eq!(bytes[at..at + 4], ms.to_le_bytes());
            assert_eq!(bytes[at + 4..at + 6], mask);
            assert_eq!(bytes[at + 6..record + RECORD_SIZE], [0; 2]);
        }
        let blob = Blob::parse(&bytes).expect("decodes");
        assert_matches(&blob, &manifest, &images);
    }
    // The encoder validates first, so it never writes an out-of-range timeout.
    manifest.partitions[0].page_request_timeout_ms = MAX_PAGE_REQUEST_TIMEOUT_MS + 1;
    assert_eq!(
        encode(&manifest, &images, &machine()).unwrap_err(),
        ManifestError::BadPageRequestTimeout {
            partition: "alpha".into(),
            ms: MAX_PAGE_REQUEST_TIMEOUT_MS + 1
        }
    );
}

/// The mask at offset 148 of each record, as encoded.
fn masks(bytes: &[u8], count: usize) -> Vec<u16> {
    (0..count)
        .map(|i| {
            let at = HEADER_SIZE + i * RECORD_SIZE + R_WITHOUT_RESET;
            u16::from_le_bytes([bytes[at], bytes[at + 1]])
        })
        .collect()
}

#[test]
fn devices_without_reset_mark_the_slots_they_name() {
    let mut machine = machine();
    // 0002:00:00.0..=0002:00:0f.0, so a partition can fill all 16 slots.
    for device in 0..16 {
        machine.functions.push(function(
            2,
            0,
            device,
            0,
            0x1af4,
            0x1000 + u16::from(device),
        ));
    }
    let sixteen: Vec<String> = (0..15)
        .map(|d| format!("\"0002:00:{d:02x}.0\""))
        .chain(["\"1af4:100f\"".to_string()])
        .collect();
    let sixteen = format!("devices = [{}]", sixteen.join(", "));
    let manifest = parse(&partitions(&[
        // By IDs and by address, listed in another order than the devices: the bits follow
        // the slots.
        (
            "alpha",
            &[
                "devices = [\"00:00.0\", \"8086:10d3\", \"1:2:3.4\", \"00:1f.2\"]",
                "devices_without_reset = [\"0001:02:03.4\", \"8086:10d3\"]",
            ],
        ),
        ("beta", &["devices = [\"00:01.0\"]"]),
        // The first slot and the last (by IDs, 1af4:100f = 0002:00:0f.0).
        (
            "gamma",
            &[
                &sixteen,
                "devices_without_reset = [\"1af4:100f\", \"2:0:0.0\"]",
            ],
        ),
        ("delta", &[]),
    ]))
    .unwrap();
    validate(&manifest, &machine).expect("valid");
    let images = BTreeMap::from([("reference".to_string(), image(64, 5))]);
    let bytes = encode(&manifest, &images, &machine).expect("encodes");
    assert_eq!(masks(&bytes, 4), [0b0110, 0, 0x8001, 0]);
    for i in 0..4 {
        let at = HEADER_SIZE + i * RECORD_SIZE + R_RESERVED;
        assert_eq!(bytes[at..at + 2], [0, 0], "partition {i}");
    }

    let blob = Blob::parse(&bytes).expect("decodes");
    let decoded: Vec<_> = blob.partitions().collect();
    let names = |p: &crate::Partition<'_>| {
        p.devices_without_reset()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&decoded[0]), ["0000:00:03.0", "0001:02:03.4"]);
    assert_eq!(
        (0..5)
            .map(|s| decoded[0].may_skip_reset(s))
            .collect::<Vec<_>>(),
        [false, true, true, false, false]
    );
    assert_eq!(names(&decoded[1]), Vec::<String>::new());
    assert!(!decoded[1].may_skip_reset(0));
    assert_eq!(decoded[2].devices().count(), 16);
    assert_eq!(names(&decoded[2]), ["0002:00:00.0", "0002:00:0f.0"]);
    assert!(decoded[2].may_skip_reset(0) && decoded[2].may_skip_reset(15));
    assert!((1..15).all(|s| !decoded[2].may_skip_reset(s)));
    assert!(!decoded[2].may_skip_reset(16));
    assert_eq!(decoded[3].devices_without_reset().count(), 0);

    // assert_matches checks against the test machine; check against this one by hand.
    for (p, spec) in decoded.iter().zip(&manifest.partitions) {
        for (slot, device) in spec.devices.iter().enumerate() {
            assert_eq!(
                p.may_skip_reset(slot),
                spec.devices_without_reset.contains(device),
                "{} slot {slot}",
                spec.name
            );
        }
    }
}

#[test]
fn decoder_refuses_a_mask_bit_past_the_devices_and_a_nonzero_reserved_field() {
    // alpha has 1 device (exempt: mask 1), beta 2 (mask 0).
    let good = example_blob();
    assert_eq!(masks(&good, 2), [1, 0]);
    let record = |i: usize, at: usize| HEADER_SIZE + i * RECORD_SIZE + at;
    let with = |writes: &[(usize, &[u8])]| {
        let mut blob = good.clone();
        for (at, bytes) in writes {
            blob[*at..*at + bytes.len()].copy_from_slice(bytes);
        }
        Blob::parse(&blob).map(|b| b.partitions().map(|p| masks_of(&p)).collect::<Vec<_>>())
    };
    fn masks_of(p: &crate::Partition<'_>) -> Vec<bool> {
        (0..MAX_DEVICES).map(|s| p.may_skip_reset(s)).collect()
    }
    let bad = |partition, field| Err(DecodeError::BadValue { partition, field });
    for (partition, mask) in [
        (0u32, 0b10u16),
        (0, 0x8000),
        (0, 0xffff),
        (1, 0b100),
        (1, 0b101),
        (1, 0x8000),
    ] {
        assert_eq!(
            with(&[(
                record(partition as usize, R_WITHOUT_RESET),
                &mask.to_le_bytes()
            )]),
            bad(partition, "devices_without_reset"),
            "partition {partition} mask {mask:#x}"
        );
    }
    // A partition with no devices may have no bit at all.
    assert_eq!(
        with(&[(record(0, R_DEVICE_COUNT), &[0])]),
        bad(0, "devices_without_reset")
    );
    // Bits inside the device count decode, onto their slots.
    let decoded = with(&[(record(1, R_WITHOUT_RESET), &0b10u16.to_le_bytes())]).expect("valid");
    assert_eq!(decoded[1][..3], [false, true, false]);
    let decoded = with(&[
        (record(0, R_WITHOUT_RESET), &0u16.to_le_bytes()),
        (record(1, R_WITHOUT_RESET), &0b11u16.to_le_bytes()),
    ])
    .expect("valid");
    assert_eq!(decoded[0][..2], [false, false]);
    assert_eq!(decoded[1][..3], [true, true, false]);

    for (partition, value) in [(0u32, 1u16), (1, 0x100), (1, 0xffff)] {
        assert_eq!(
            with(&[(record(partition as usize, R_RESERVED), &value.to_le_bytes())]),
            bad(partition, "reserved"),
            "partition {partition} reserved {value:#x}"
        );
    }
    let message = Blob::parse(&{
        let mut blob = good.clone();
        blob[record(1, R_WITHOUT_RESET)] = 0b100;
        blob
    })
    .unwrap_err()
    .to_string();
    assert!(
        message.contains("partition 1") && message.contains("devices_without_reset"),
        "{message}"
    );
}

#[test]
fn every_truncation_is_refused() {
    let good = example_blob();
    for len in 1..good.len() {
        assert!(
            Blob::parse(&good[..len]).is_err(),
            "a {len}-byte prefix of {} decoded",
            good.len()
        );
    }
}

#[test]
fn single_byte_corruption_never_yields_out_of_bounds_views() {
    let good = example_blob();
    let records_end = HEADER_SIZE + 2 * RECORD_SIZE;
    let (mut accepted, mut refused) = (0, 0);
    for at in 0..records_end {
        for flip in [0x01, 0x02, 0x10, 0x80, 0xff] {
            let mut bytes = good.clone();
            bytes[at] ^= flip;
            match Blob::parse(&bytes) {
                Ok(blob) => {
                    touch_everything(&blob, &bytes);
                    accepted += 1;
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                }
            }
        }
    }
    // Both outcomes happen: padding and value fields decode, offsets and magic do not.
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn random_bytes_never_panic() {
    let good = example_blob();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for round in 0..4000 {
        let len = (rng.next() % 700) as usize;
        let mut bytes = rng.bytes(len);
        if round % 2 == 0 && len >= HEADER_SIZE {
            // A valid header so the records get decoded too.
            bytes[..HEADER_SIZE].copy_from_slice(&good[..HEADER_SIZE]);
            bytes[16..20].copy_from_slice(&((rng.next() % 4) as u32).to_le_bytes());
            bytes[20..24].copy_from_slice(&(len as u32).to_le_bytes());
        }
        if round % 4 == 1 {
            // The valid blob with a few random bytes overwritten.
            bytes = good.clone();
            for _ in 0..=(rng.next() % 4) {
                let at = (rng.next() as usize) % bytes.len();
                bytes[at] = rng.next() as u8;
            }
        }
        if let Ok(blob) = Blob::parse(&bytes) {
            touch_everything(&blob, &bytes);
            accepted += 1;
        }
    }
    assert!(
        accepted > 0,
        "no input decoded, so the records were never exercised"
    );
}

#[test]
fn encode_refuses_invalid_manifests_and_missing_images() {
    let machine = machine();
    let error = encode(&Manifest::default(), &example_images(), &machine).unwrap_err();
    assert_eq!(error, ManifestError::NoPartitions);

    let manifest = parse(EXAMPLE).unwrap();
    let error = encode(&manifest, &BTreeMap::new(), &machine).unwrap_err();
    assert_eq!(
        error,
        ManifestError::MissingImageBytes {
            partition: "alpha".into(),
            image: "reference".into()
        }
    );
    assert!(error.to_string().contains("\"alpha\"") && error.to_string().contains("reference"));

    let empty = BTreeMap::from([("reference".to_string(), vec![])]);
    let error = encode(&manifest, &empty, &machine).unwrap_err();
    assert!(
        matches!(error, ManifestError::EmptyImage { .. }),
        "{error:?}"
    );
}
