//! Links the kernel binary with boot/'s linker script for the target architecture.
use std::{env, path::PathBuf};

fn main() {
    partitions();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "none" {
        // Host builds (unit tests, clippy) link an ordinary program.
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let script = manifest.join("../boot/link").join(format!("{arch}.ld"));
    println!("cargo:rustc-link-arg-bins=-T{}", script.display());
    println!("cargo:rerun-if-changed={}", script.display());
}

/// The partition blob (`VSVA_PARTITIONS`: a file xtask made from the
/// manifest and the guest images) is copied to OUT_DIR for `include_bytes!`;
/// without one the kernel gets an empty blob and starts no partition.
fn partitions() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("partitions.bin");
    println!("cargo:rerun-if-env-changed=VSVA_PARTITIONS");
    let bytes = match env::var("VSVA_PARTITIONS") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read(&path).unwrap_or_else(|e| panic!("VSVA_PARTITIONS={path}: {e}"))
        }
        _ => Vec::new(),
    };
    std::fs::write(&out, bytes).expect("writing OUT_DIR/partitions.bin");
}
