//! Writing the blob; the layout is documented in [`crate::blob`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use crate::blob::{
    DEVICE_SLOT, FORMAT_VERSION, H_ARCH, H_COUNT, H_MAGIC, H_TOTAL, H_VERSION, HEADER_SIZE,
    IMAGE_ALIGN, MAGIC, R_CMDLINE_LEN, R_CMDLINE_OFFSET, R_DEVICE_COUNT, R_DEVICES, R_GUEST_BASE,
    R_HOST_BASE, R_IMAGE_LEN, R_IMAGE_OFFSET, R_MEMORY, R_NAME, R_NAME_LEN, R_PASID_QUOTA,
    R_REQUEST_TIMEOUT_MS, R_VCPUS, R_WITHOUT_RESET, RECORD_SIZE,
};
use crate::validate::{guest_base, resolve};
use crate::{Machine, Manifest, ManifestError, validate};

/// Validates `manifest` against `machine` and packs it with the images it names (`images`
/// maps image name to file bytes; unused entries are ignored) into a blob for
/// [`Blob::parse`](crate::Blob::parse). Devices are resolved to addresses, default guest
/// bases filled in, and an image used by several partitions is stored once.
///
/// Returns the first validation error only; call [`validate`] first to report them all.
pub fn encode(
    manifest: &Manifest,
    images: &BTreeMap<String, Vec<u8>>,
    machine: &Machine,
) -> Result<Vec<u8>, ManifestError> {
    if let Err(errors) = validate(manifest, machine) {
        // `validate` never returns an empty list.
        return Err(errors
            .into_iter()
            .next()
            .unwrap_or(ManifestError::NoPartitions));
    }
    let partitions = &manifest.partitions;
    let data_start = HEADER_SIZE + partitions.len() * RECORD_SIZE;

    // Images first, each 8-aligned (data_start is), in order of first use.
    let mut data = Vec::new();
    let mut placed: BTreeMap<&str, Range<usize>> = BTreeMap::new();
    let mut image_ranges = Vec::with_capacity(partitions.len());
    for p in partitions {
        if !placed.contains_key(p.image.as_str()) {
            let bytes = images
                .get(&p.image)
                .ok_or_else(|| ManifestError::MissingImageBytes {
                    partition: p.name.clone(),
                    image: p.image.clone(),
                })?;
            if bytes.is_empty() {
                return Err(ManifestError::EmptyImage {
                    partition: p.name.clone(),
                    image: p.image.clone(),
                });
            }
            data.resize(data.len().next_multiple_of(IMAGE_ALIGN), 0);
            let start = data_start + data.len();
            data.extend_from_slice(bytes);
            placed.insert(&p.image, start..start + bytes.len());
        }
        image_ranges.push(placed[p.image.as_str()].clone());
    }
    let mut cmdline_ranges = Vec::with_capacity(partitions.len());
    for p in partitions {
        let start = data_start + data.len();
        data.extend_from_slice(p.cmdline.as_bytes());
        cmdline_ranges.push(start..start + p.cmdline.len());
    }

    let total = data_start + data.len();
    let too_large = || ManifestError::BlobTooLarge { size: total as u64 };
    let total32 = u32::try_from(total).map_err(|_| too_large())?;
    // Every offset and length is below `total`, so these cannot fail once `total` fits.
    let u32_of = |n: usize| u32::try_from(n).map_err(|_| too_large());

    let mut blob = vec![0u8; data_start];
    put(&mut blob, H_MAGIC, &MAGIC);
    put(&mut blob, H_VERSION, &FORMAT_VERSION.to_le_bytes());
    put(&mut blob, H_ARCH, &machine.arch.code().to_le_bytes());
    put(&mut blob, H_COUNT, &u32_of(partitions.len())?.to_le_bytes());
    put(&mut blob, H_TOTAL, &total32.to_le_bytes());

    for (i, p) in partitions.iter().enumerate() {
        let record = HEADER_SIZE + i * RECORD_SIZE;
        let at = |offset: usize| record + offset;
        // Validation bounded names to 32 bytes, vCPUs to 8 and devices to 16: each fits a u8.
        put(&mut blob, at(R_NAME), p.name.as_bytes());
        put(&mut blob, at(R_NAME_LEN), &[p.name.len() as u8]);
        put(&mut blob, at(R_VCPUS), &[p.vcpus as u8]);
        put(&mut blob, at(R_DEVICE_COUNT), &[p.devices.len() as u8]);
        put(&mut blob, at(R_PASID_QUOTA), &p.pasid_quota.to_le_bytes());
        put(
            &mut blob,
            at(R_REQUEST_TIMEOUT_MS),
            &p.page_request_timeout_ms.to_le_bytes(),
        );
        put(&mut blob, at(R_MEMORY), &p.memory.to_le_bytes());
        put(
            &mut blob,
            at(R_HOST_BASE),
            &p.host_base.unwrap_or(0).to_le_bytes(),
        );
        put(
            &mut blob,
            at(R_GUEST_BASE),
            &guest_base(p, machine).to_le_bytes(),
        );
        let cmdline = &cmdline_ranges[i];
        put(
            &mut blob,
            at(R_CMDLINE_OFFSET),
            &u32_of(cmdline.start)?.to_le_bytes(),
        );
        put(
            &mut blob,
            at(R_CMDLINE_LEN),
            &u32_of(cmdline.len())?.to_le_bytes(),
        );
        let image = &image_ranges[i];
        put(
            &mut blob,
            at(R_IMAGE_OFFSET),
            &u32_of(image.start)?.to_le_bytes(),
        );
        put(
            &mut blob,
            at(R_IMAGE_LEN),
            &u32_of(image.len())?.to_le_bytes(),
        );
        // Validation made each `devices_without_reset` entry equal to one `devices` entry,
        // so an entry marks the slot of that entry (a vendor:device one the slot it resolved
        // to). At most 16 slots: each bit fits the u16.
        let mut without_reset = 0u16;
        for (slot, device) in p.devices.iter().enumerate() {
            let address = resolve(&p.name, device, machine)?;
            let mut bytes = [0u8; DEVICE_SLOT];
            bytes[..2].copy_from_slice(&address.segment.to_le_bytes());
            bytes[2] = address.bus;
            bytes[3] = address.devfn();
            put(&mut blob, at(R_DEVICES + slot * DEVICE_SLOT), &bytes);
            if p.devices_without_reset.contains(device) {
                without_reset |= 1 << slot;
            }
        }
        put(&mut blob, at(R_WITHOUT_RESET), &without_reset.to_le_bytes());
    }
    blob.extend_from_slice(&data);
    Ok(blob)
}

/// Copies `bytes` into `blob` at `offset`; the layout keeps every field inside the
/// pre-sized header and records.
fn put(blob: &mut [u8], offset: usize, bytes: &[u8]) {
    blob[offset..offset + bytes.len()].copy_from_slice(bytes);
}
