//! The partition manifest built into the image: a blob xtask encoded from
//! the TOML manifest and the guest images (`vsva-manifest`), decoded here
//! into partition [`Spec`]s. An image built without a manifest has an empty
//! blob and starts no partition.
#![deny(unsafe_code)]

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use vsva_manifest::{Arch, Blob};
use vsva_pci::Bdf;

use crate::partition::Spec;

/// 8-byte alignment for the embedded bytes: the blob's images are 8-aligned
/// relative to its start.
#[repr(C, align(8))]
struct Aligned<T: ?Sized>(T);

/// The blob, as the build embedded it.
static BLOB: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/partitions.bin")));

/// The embedded blob's bytes.
pub fn blob() -> &'static [u8] {
    &BLOB.0
}

const THIS_ARCH: Arch = if cfg!(target_arch = "aarch64") {
    Arch::Aarch64
} else {
    Arch::X86_64
};

/// The partitions `bytes` describes; an error names what is wrong with it.
pub fn specs(bytes: &[u8]) -> Result<Vec<Spec<'_>>, String> {
    let blob = Blob::parse(bytes).map_err(|e| format!("the built-in blob is malformed: {e}"))?;
    if blob.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(arch) = blob.arch()
        && arch != THIS_ARCH
    {
        return Err(format!(
            "the built-in blob is for {arch:?}, not {THIS_ARCH:?}"
        ));
    }
    let mut out = Vec::new();
    for p in blob.partitions() {
        let mut devices = Vec::new();
        for d in p.devices() {
            let bdf = Bdf::new(d.bus, d.device, d.function)
                .ok_or_else(|| format!("partition '{}': bad device {d}", p.name()))?;
            devices.push((d.segment, bdf));
        }
        let without_reset = p
            .devices_without_reset()
            .filter_map(|d| Some((d.segment, Bdf::new(d.bus, d.device, d.function)?)))
            .collect();
        out.push(Spec {
            name: p.name(),
            host_base: p.host_base(),
            memory: p.memory(),
            guest_base: p.guest_base(),
            vcpus: p.vcpus(),
            pasid_quota: p.pasid_quota(),
            page_request_timeout_ms: p.page_request_timeout_ms(),
            devices,
            without_reset,
            cmdline: p.cmdline(),
            image: p.image(),
        });
    }
    Ok(out)
}
