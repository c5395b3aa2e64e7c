//! The partition manifest: read, checked against the QEMU machine xtask
//! boots, and packed with the guest images into the blob the kernel embeds
//! (`VSVA_PARTITIONS`, see kernel/build.rs).
//!
//! `partitions.toml` at the workspace root is what `cargo xtask run` boots;
//! `tests/partitions.toml` is what the in-kernel tests build partitions from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vsva_manifest::{Machine, PciFunction};

use crate::arch::Arch;
use crate::kernel::{self, Flavor};

/// The guest images a manifest may name, and the package/binary of each.
const IMAGES: [(&str, &str); 1] = [("reference", "vsva-guest-reference")];

/// The manifest a flavor uses, and the text it has on `arch`: the test
/// manifest is `tests/partitions.toml` followed by `tests/partitions.<arch>.toml`
/// where that exists (partitions that only make sense on one machine, such
/// as RAM pinned at one machine's addresses).
pub fn manifest_text(flavor: Flavor, arch: Arch) -> Result<(PathBuf, String), String> {
    let path = manifest_path(flavor);
    let mut text =
        std::fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if flavor == Flavor::Test {
        let extra = path.with_file_name(format!("partitions.{arch}.toml"));
        if let Ok(more) = std::fs::read_to_string(&extra) {
            text.push('\n');
            text.push_str(&more);
        }
    }
    Ok((path, text))
}

/// The manifest a flavor uses.
pub fn manifest_path(flavor: Flavor) -> PathBuf {
    let root = kernel::workspace_root();
    match flavor {
        Flavor::Run => root.join("partitions.toml"),
        Flavor::Test => root.join("tests").join("partitions.toml"),
        Flavor::Bench => root.join("benches").join("partitions.toml"),
    }
}

/// The QEMU machine as the manifest is checked against: RAM and PCI
/// functions of `qemu::command_line`, vsva's image and what it keeps.
pub fn machine(arch: Arch, image_span: BTreeMap<String, (u64, u64)>) -> Machine {
    let (ram, hypervisor, host_bridge) = match arch {
        // q35: 256 MiB from 0 (the low 1 MiB is firmware's); the kernel at 2 MiB.
        Arch::X86_64 => (
            vec![(0x10_0000, arch.ram_bytes())],
            (0x20_0000, 0x60_0000),
            (0x8086, 0x29c0),
        ),
        // virt: RAM at 1 GiB; the kernel Image at 1 GiB + 2 MiB.
        Arch::Aarch64 => (
            vec![(0x4000_0000, 0x4000_0000 + arch.ram_bytes())],
            (0x4020_0000, 0x4060_0000),
            (0x1b36, 0x0008),
        ),
    };
    let function = |device, (vendor_id, device_id)| PciFunction {
        segment: 0,
        bus: 0,
        device,
        function: 0,
        vendor_id,
        device_id,
    };
    Machine {
        arch: match arch {
            Arch::X86_64 => vsva_manifest::Arch::X86_64,
            Arch::Aarch64 => vsva_manifest::Arch::Aarch64,
        },
        ram,
        hypervisor,
        reserve: 64 << 20,
        // QEMU numbers the edu device after the host bridge (q35's also has
        // its LPC, SATA and SMBus functions at 00:1f.x, which are not assignable
        // and not listed); the NVMe controller sits at slot 8 (`qemu::NVME`).
        functions: vec![
            function(0, host_bridge),
            function(1, (0x1234, 0x11e8)),
            function(8, (0x1b36, 0x0010)),
        ],
        config_window: (vsva_abi::CONFIG_WINDOW_BASE, 1 << 20),
        table_window: (
            vsva_abi::sva::TABLE_WINDOW_BASE,
            vsva_abi::sva::TABLE_WINDOW_SIZE,
        ),
        default_guest_base: 0x4000_0000,
        image_span,
    }
}

/// Builds the guest images, checks the flavor's manifest and writes the blob;
/// returns its path. Every problem in the manifest is reported, one per line.
pub fn build_blob(arch: Arch, flavor: Flavor, release: bool) -> Result<PathBuf, String> {
    let out = kernel::target_dir().join(format!(
        "partitions-{}-{}.bin",
        arch.target(),
        match flavor {
            Flavor::Run => "run",
            Flavor::Test => "test",
            Flavor::Bench => "bench",
        }
    ));
    let (path, text) = manifest_text(flavor, arch)?;
    let manifest = vsva_manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut images = BTreeMap::new();
    let mut spans = BTreeMap::new();
    for (name, package) in IMAGES {
        if !manifest.partitions.iter().any(|p| p.image == name) {
            continue;
        }
        let elf = kernel::build_guest(package, arch, release)?;
        let bytes = std::fs::read(&elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
        let span = vsva_boot::elf::Elf::parse(&bytes)
            .map_err(|e| format!("{}: {e}", elf.display()))?
            .span();
        spans.insert(name.to_string(), span);
        images.insert(name.to_string(), bytes);
    }
    let machine = machine(arch, spans);
    if let Err(errors) = vsva_manifest::validate(&manifest, &machine) {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        return Err(format!(
            "{} is not valid for {arch}:\n{}",
            path.display(),
            lines.join("\n")
        ));
    }
    let blob = vsva_manifest::encode(&manifest, &images, &machine)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    write(&out, &blob)?;
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    // Unchanged contents keep the file's time, so cargo does not rebuild.
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    kernel::write_whole(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans() -> BTreeMap<String, (u64, u64)> {
        BTreeMap::from([("reference".to_string(), (0x4000_0000, 0x4002_0000))])
    }

    /// The two manifests in the tree are valid for both machines xtask boots
    /// (x86_64's has only 256 MiB).
    #[test]
    fn the_run_and_test_manifests_are_valid_on_both_machines() {
        for arch in Arch::ALL {
            for flavor in [Flavor::Run, Flavor::Test, Flavor::Bench] {
                let (path, text) = manifest_text(flavor, arch).unwrap();
                let manifest = vsva_manifest::parse(&text).unwrap();
                if let Err(errors) = vsva_manifest::validate(&manifest, &machine(arch, spans())) {
                    panic!("{} on {arch}: {errors:?}", path.display());
                }
            }
        }
    }

    /// A manifest naming a function QEMU's machine does not have is refused
    /// with a message that names it and the partition.
    #[test]
    fn an_unknown_device_is_refused_by_name() {
        let text = "[[partition]]\nname = \"p\"\nmemory = \"16M\"\nimage = \"reference\"\ndevices = [\"00:07.0\"]\n";
        let manifest = vsva_manifest::parse(text).unwrap();
        let errors =
            vsva_manifest::validate(&manifest, &machine(Arch::Aarch64, spans())).unwrap_err();
        let text = errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(text.contains("00:07.0") && text.contains("\"p\""), "{text}");
    }
}
