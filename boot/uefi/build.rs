//! Embeds the kernel ELF named by `VSVA_KERNEL_ELF` (xtask sets it) into the
//! loader; without it the loader is built empty and says so when run.
use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VSVA_KERNEL_ELF");
    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("kernel.elf");
    match env::var("VSVA_KERNEL_ELF") {
        Ok(path) if !path.is_empty() => {
            println!("cargo:rerun-if-changed={path}");
            fs::copy(&path, &out).unwrap_or_else(|e| panic!("VSVA_KERNEL_ELF={path}: {e}"));
        }
        _ => fs::write(&out, b"").expect("OUT_DIR is writable"),
    }
}
