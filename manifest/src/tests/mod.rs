//! Host tests of the whole crate: parsing, validation, encoding and decoding.

mod blob;
mod parse;
mod validate;
mod without_reset;

use std::collections::BTreeMap;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use crate::{Arch, DeviceRef, Machine, ManifestError, PciAddress, PciFunction};

/// The example manifest shipped with the crate.
const EXAMPLE: &str = include_str!("../../examples/two-partitions.toml");

/// A device named by address.
fn address(segment: u16, bus: u8, device: u8, function: u8) -> DeviceRef {
    DeviceRef::Address(PciAddress {
        segment,
        bus,
        device,
        function,
    })
}

fn function(
    segment: u16,
    bus: u8,
    device: u8,
    function: u8,
    vendor_id: u16,
    device_id: u16,
) -> PciFunction {
    PciFunction {
        segment,
        bus,
        device,
        function,
        vendor_id,
        device_id,
    }
}

/// A q35-like machine: 2047 MiB + 1 GiB of RAM, vsva at 2..4 MiB keeping 64 MiB more, two edu
/// devices (so `1234:11e8` is ambiguous), an e1000e and a function on segment 1.
fn machine() -> Machine {
    Machine {
        arch: Arch::X86_64,
        ram: vec![(0x1_0000_0000, 0x1_4000_0000), (0x10_0000, 0x8000_0000)],
        hypervisor: (0x20_0000, 0x40_0000),
        reserve: 64 << 20,
        functions: vec![
            function(0, 0, 0, 0, 0x8086, 0x29c0),
            function(0, 0, 1, 0, 0x1234, 0x11e8),
            function(0, 0, 2, 0, 0x1234, 0x11e8),
            function(0, 0, 3, 0, 0x8086, 0x10d3),
            function(0, 0, 0x1f, 2, 0x8086, 0x2922),
            function(1, 2, 3, 4, 0x1af4, 0x1041),
        ],
        config_window: (0x3000_0000, 0x1000_0000),
        table_window: (0x2000_0000, 0x100_0000),
        default_guest_base: 0x4000_0000,
        image_span: BTreeMap::from([
            ("reference".to_string(), (0x4010_0000, 0x4020_0000)),
            ("linux".to_string(), (0x4020_0000, 0x4120_0000)),
        ]),
    }
}

/// Deterministic pseudo-random bytes (xorshift64), so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Asserts `error`'s message contains every one of `needles`.
#[track_caller]
fn assert_says(error: &ManifestError, needles: &[&str]) {
    let message = error.to_string();
    for needle in needles {
        assert!(
            message.contains(needle),
            "message {message:?} does not mention {needle:?}"
        );
    }
    assert!(
        !message.contains('\n'),
        "message {message:?} is not one line"
    );
}

/// `[[partition]]` tables with the given names, 32 MiB each, the reference image and the
/// extra `key = value` lines per partition.
fn partitions(specs: &[(&str, &[&str])]) -> String {
    let mut text = String::new();
    for (name, extra) in specs {
        text += &format!("[[partition]]\nname = \"{name}\"\nimage = \"reference\"\n");
        if !extra.iter().any(|line| line.starts_with("memory")) {
            text += "memory = \"32M\"\n";
        }
        for line in *extra {
            text += line;
            text += "\n";
        }
        text += "\n";
    }
    text
}
