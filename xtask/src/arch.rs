//! The two machines vsva runs on, and what each needs from cargo and QEMU.

use std::fmt;

/// A target architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arch {
    /// q35 with intel-iommu (VT-d), PVH boot.
    #[value(name = "x86_64")]
    X86_64,
    /// virt with smmuv3, entered at EL2 as an arm64 Image.
    #[value(name = "aarch64")]
    Aarch64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Aarch64];

    /// RAM QEMU gives the machine (`-m`).
    pub fn ram_bytes(self) -> u64 {
        match self {
            Arch::X86_64 => 256 << 20,
            Arch::Aarch64 => 512 << 20,
        }
    }

    /// The Rust target the kernel is built for.
    pub fn target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Aarch64 => "aarch64-unknown-none",
        }
    }

    /// The QEMU system emulator.
    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// The Debian package that provides [`qemu`](Self::qemu).
    pub fn qemu_package(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86",
            Arch::Aarch64 => "qemu-system-arm",
        }
    }

    /// The Rust target the UEFI loader is built for.
    pub fn uefi_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-uefi",
            Arch::Aarch64 => "aarch64-unknown-uefi",
        }
    }

    /// The removable-media boot path firmware looks for (UEFI 2.10 §3.5.1.1).
    pub fn uefi_boot_file(self) -> &'static str {
        match self {
            Arch::X86_64 => "BOOTX64.EFI",
            Arch::Aarch64 => "BOOTAA64.EFI",
        }
    }

    /// The gdb that understands this architecture.
    pub fn gdb(self) -> &'static str {
        match self {
            Arch::X86_64 => "gdb",
            Arch::Aarch64 => "gdb-multiarch",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        })
    }
}

/// How the kernel is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    /// QEMU's `-kernel`: PVH on x86_64, the arm64 Image protocol on aarch64.
    Direct,
    /// UEFI firmware (OVMF, QEMU_EFI) starting vsva's loader from a FAT volume.
    Uefi,
}

impl Firmware {
    pub const ALL: [Firmware; 2] = [Firmware::Direct, Firmware::Uefi];
}

impl fmt::Display for Firmware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Firmware::Direct => "direct",
            Firmware::Uefi => "UEFI",
        })
    }
}
