//! Building the kernel image with cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::arch::{Arch, Firmware};
use crate::image;

/// Which image to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// The hypervisor as users boot it.
    Run,
    /// The test image: runs every registered in-kernel test.
    Test,
    /// The hypervisor with the partition `cargo xtask bench` measures.
    Bench,
}

/// A built kernel: the ELF (for gdb) and what QEMU boots.
#[derive(Debug, Clone)]
pub struct Kernel {
    pub arch: Arch,
    pub elf: PathBuf,
    /// `-kernel` file (direct boot), or the loader inside `esp` (UEFI).
    pub boot_file: PathBuf,
    pub firmware: Firmware,
    /// The FAT volume's directory for UEFI boot (`EFI/BOOT/BOOT*.EFI`).
    pub esp: Option<PathBuf>,
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_path_buf()
}

/// Kernel builds get their own target directory: its lock is separate from the
/// host build's, so a kernel can be built while `cargo test` holds the other.
pub fn target_dir() -> PathBuf {
    workspace_root().join("target").join("kernel")
}

/// Installs the Rust target through rustup when it is missing (the machine may
/// not install toolchain components on its own).
pub fn ensure_rust_target(target: &str) -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| {
            format!("cannot run rustup ({e}); install the Rust target {target} by hand")
        })?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == target)
    {
        return Ok(());
    }
    eprintln!("xtask: installing Rust target {target}");
    let status = Command::new("rustup")
        .args(["target", "add", target])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("rustup target add failed: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`rustup target add {target}` failed ({status})"))
    }
}

/// Runs `cargo build` for one binary in the kernel target directory (adding the
/// Rust target first when missing); returns the directory of its output.
fn cargo_build(
    what: &str,
    package: &str,
    bin: &str,
    target: &str,
    release: bool,
    extra: impl FnOnce(&mut Command),
) -> Result<PathBuf, String> {
    ensure_rust_target(target)?;
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(workspace_root())
        .env("CARGO_TARGET_DIR", target_dir())
        .args([
            "build",
            "--package",
            package,
            "--bin",
            bin,
            "--target",
            target,
        ]);
    if release {
        cargo.arg("--release");
    }
    extra(&mut cargo);
    let status = cargo
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building {what} failed ({status})"));
    }
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(target).join(profile))
}

/// Builds a guest kernel (`package`, whose binary has the same name) for
/// `arch`; returns the ELF's path.
pub fn build_guest(package: &str, arch: Arch, release: bool) -> Result<PathBuf, String> {
    let dir = cargo_build(
        &format!("the {arch} guest {package}"),
        package,
        package,
        arch.target(),
        release,
        |_| {},
    )?;
    Ok(dir.join(package))
}

/// Writes `bytes` to `path` whole: into a file of its own, then renamed over
/// `path`, so a QEMU already reading the old file (another test booting the
/// same image) never sees a half-written one.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), String> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("image");
    let tmp = path.with_file_name(format!(".{name}.{}.{n}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming to {}: {e}", path.display()))
}

/// Builds the kernel for `arch`, with the flavor's partitions built in.
pub fn build(arch: Arch, flavor: Flavor, release: bool) -> Result<Kernel, String> {
    let blob = crate::partitions::build_blob(arch, flavor, release)?;
    let what = format!("the {arch} kernel");
    let dir = cargo_build(
        &what,
        "vsva-kernel",
        "vsva",
        arch.target(),
        release,
        |cargo| {
            cargo.env("VSVA_PARTITIONS", &blob);
            if flavor == Flavor::Test {
                cargo.args(["--features", "ktest"]);
            }
        },
    )?;
    // The two flavors share cargo's output name: copy each to its own file so a
    // test run never boots the run image or the other way round.
    let suffix = match flavor {
        Flavor::Run => "",
        Flavor::Test => "-test",
        Flavor::Bench => "-bench",
    };
    let elf = dir.join(format!("vsva{suffix}.elf"));
    let bytes = std::fs::read(dir.join("vsva")).map_err(|e| format!("reading the kernel: {e}"))?;
    write_whole(&elf, &bytes)?;
    let boot_file = match arch {
        Arch::X86_64 => elf.clone(),
        Arch::Aarch64 => {
            let bytes =
                std::fs::read(&elf).map_err(|e| format!("reading {}: {e}", elf.display()))?;
            let (_, flat) =
                image::flatten(&bytes).map_err(|e| format!("{}: {e}", elf.display()))?;
            let path = dir.join(format!("vsva{suffix}.img"));
            write_whole(&path, &flat)?;
            path
        }
    };
    Ok(Kernel {
        arch,
        elf,
        boot_file,
        firmware: Firmware::Direct,
        esp: None,
    })
}

/// Builds the kernel and, for UEFI, the loader that carries it, laid out on a
/// FAT volume directory with the command line in `vsva/cmdline.txt`.
pub fn build_for(
    arch: Arch,
    firmware: Firmware,
    flavor: Flavor,
    release: bool,
    cmdline: &str,
) -> Result<Kernel, String> {
    let kernel = build(arch, flavor, release)?;
    if firmware == Firmware::Direct {
        return Ok(kernel);
    }
    let what = format!("the {arch} UEFI loader");
    let elf = kernel.elf.clone();
    let out = cargo_build(
        &what,
        "vsva-uefi",
        "vsva-loader",
        arch.uefi_target(),
        release,
        |cargo| {
            cargo.env("VSVA_KERNEL_ELF", elf);
        },
    )?;
    let suffix = match flavor {
        Flavor::Run => "run",
        Flavor::Test => "test",
        Flavor::Bench => "bench",
    };
    let esp = out.join(format!("esp-{suffix}"));
    let boot_dir = esp.join("EFI").join("BOOT");
    let vsva_dir = esp.join("vsva");
    for dir in [&boot_dir, &vsva_dir] {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let loader = boot_dir.join(arch.uefi_boot_file());
    std::fs::copy(out.join("vsva-loader.efi"), &loader)
        .map_err(|e| format!("copying the loader: {e}"))?;
    std::fs::write(vsva_dir.join("cmdline.txt"), format!("{cmdline}\n"))
        .map_err(|e| format!("writing the command line: {e}"))?;
    Ok(Kernel {
        firmware,
        boot_file: loader,
        esp: Some(esp),
        ..kernel
    })
}
