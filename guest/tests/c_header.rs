//! The C header (`include/vsva.h`) must say what the Rust ABI says: the host's
//! C compiler checks its constants and the boot-information layout against
//! values taken from `vsva_abi` here.

use std::process::Command;

use vsva_abi::{BOOT_MAGIC, BootInfo, CMDLINE_MAX, CONSOLE_MAX, Call, HvError};

#[test]
fn the_c_header_matches_the_rust_abi() {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/include/vsva.h");
    let checks = [
        ("VSVA_VERSION", u64::from(Call::Version.function_id())),
        (
            "VSVA_CONSOLE_WRITE",
            u64::from(Call::ConsoleWrite.function_id()),
        ),
        ("VSVA_EXIT", u64::from(Call::Exit.function_id())),
        ("VSVA_YIELD", u64::from(Call::Yield.function_id())),
        ("VSVA_VCPU_START", u64::from(Call::VcpuStart.function_id())),
        ("VSVA_CONSOLE_MAX", CONSOLE_MAX),
        ("VSVA_CMDLINE_MAX", CMDLINE_MAX as u64),
        ("VSVA_BOOT_MAGIC", BOOT_MAGIC),
        (
            "(uint64_t)-VSVA_EUNKNOWN_CALL",
            (-HvError::UnknownCall.status()) as u64,
        ),
        (
            "(uint64_t)-VSVA_EBAD_ARGUMENT",
            (-HvError::BadArgument.status()) as u64,
        ),
        (
            "(uint64_t)-VSVA_ENOT_PERMITTED",
            (-HvError::NotPermitted.status()) as u64,
        ),
        (
            "(uint64_t)-VSVA_ENO_RESOURCES",
            (-HvError::NoResources.status()) as u64,
        ),
        ("sizeof(struct vsva_boot_info)", BootInfo::SIZE as u64),
        ("offsetof(struct vsva_boot_info, cmdline_len)", 72),
        ("offsetof(struct vsva_boot_info, cmdline)", 80),
    ];
    let mut source = format!("#include <stddef.h>\n#include \"{header}\"\n");
    for (expr, value) in checks {
        source.push_str(&format!(
            "_Static_assert((uint64_t)({expr}) == {value}ull, \"{expr} is not {value}\");\n"
        ));
    }
    // The inline functions must compile too.
    source.push_str("int use(void) { vsva_exit(0); return (int)vsva_console_write(\"x\", 1); }\n");
    let dir = std::env::temp_dir().join(format!("vsva-c-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("check.c");
    std::fs::write(&file, source).unwrap();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
