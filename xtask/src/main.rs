//! vsva's developer commands. `cargo xtask <command> --help` for each.
//!
//! - `cargo xtask run`: build the kernel and boot it in QEMU (x86_64 by default).
//! - `cargo xtask test`: host unit tests, then in-kernel tests on both
//!   architectures, ending with one `N passed, N failed` line.
//! - `cargo xtask build`: build the kernel image only.
//! - `cargo xtask acpi FILE...`: decode DMAR / IORT tables dumped from a machine.

mod acpi;
mod arch;
mod bench;
mod image;
mod kernel;
mod partitions;
mod qemu;
mod test;

#[cfg(test)]
mod harness;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::arch::{Arch, Firmware};
use crate::kernel::Flavor;
use crate::qemu::{Accel, IommuConfig, RunConfig};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "Build, boot and test vsva in QEMU")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Build the kernel image (ELF, and the arm64 Image on aarch64).
    Build {
        /// Architecture; both when omitted.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
        /// Build the in-kernel test image instead.
        #[arg(long)]
        tests: bool,
        #[arg(long)]
        release: bool,
    },
    /// Build the kernel and boot it in QEMU; exits 0 when vsva exits cleanly.
    Run {
        #[arg(long, value_enum, default_value_t = Arch::X86_64)]
        arch: Arch,
        /// Boot directly (`-kernel`) or through UEFI firmware and vsva's loader.
        #[arg(long, value_enum, default_value_t = Firmware::Direct)]
        firmware: Firmware,
        #[command(flatten)]
        qemu: QemuArgs,
    },
    /// Decode binary DMAR / IORT tables (as `acpixtract` or
    /// /sys/firmware/acpi/tables/ give them) into a summary, or JSON.
    Acpi {
        /// Table files, header included.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
        /// One JSON document (an array, one object per file) with stable field names.
        #[arg(long)]
        json: bool,
    },
    /// Run the benchmarks and print every figure in one table, each with its
    /// baseline from the same run and the ratio.
    Bench,
    /// Run host unit tests and in-kernel tests; prints `N passed, N failed`.
    Test {
        /// Only this architecture's in-kernel tests; both when omitted.
        #[arg(long, value_enum)]
        arch: Option<Arch>,
        /// Only this boot path; both (direct and UEFI) when omitted.
        #[arg(long, value_enum)]
        firmware: Option<Firmware>,
        /// Run only tests whose name contains NAME (host and kernel).
        #[arg(long, value_name = "NAME")]
        filter: Option<String>,
        /// Skip the in-kernel tests.
        #[arg(long, conflicts_with = "kernel_only")]
        host_only: bool,
        /// Skip the host unit tests.
        #[arg(long)]
        kernel_only: bool,
        #[command(flatten)]
        qemu: QemuArgs,
    },
}

/// Options shared by the commands that boot QEMU.
#[derive(Args, Debug)]
struct QemuArgs {
    /// Build with optimisations.
    #[arg(long)]
    release: bool,
    /// Start QEMU halted, waiting for gdb on localhost:1234 (prints the gdb command).
    #[arg(long)]
    gdb: bool,
    /// QEMU accelerator. TCG is the tested one (see ../shared/docs/qemu-iommu.md).
    #[arg(long, value_enum, default_value_t = Accel::Tcg)]
    accel: Accel,
    /// Kernel command line, e.g. "loglevel=debug".
    #[arg(long, default_value = "")]
    cmdline: String,
    /// Seconds before a run that has not exited is killed and reported as hung.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// IOMMU configuration: x86_64 VT-d in scalable mode with first stage
    /// (default), scalable with second stage, or legacy. (`test` runs all.)
    #[arg(long, value_enum, default_value_t = IommuConfig::Default)]
    iommu: IommuConfig,
    /// Extra arguments passed to QEMU as they are (after `--`).
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

impl QemuArgs {
    fn config(&self, echo: bool) -> RunConfig {
        RunConfig {
            accel: self.accel,
            cmdline: format!("{} {}", self.cmdline, self.iommu.cmdline())
                .trim()
                .to_string(),
            // A debugging session lasts as long as the user wants.
            timeout: (!self.gdb).then(|| Duration::from_secs(self.timeout)),
            gdb: self.gdb,
            echo,
            extra_args: self.qemu_args.clone(),
            iommu: self.iommu,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Build {
            arch,
            tests,
            release,
        } => {
            let flavor = if tests { Flavor::Test } else { Flavor::Run };
            for arch in arch.map_or(Arch::ALL.to_vec(), |a| vec![a]) {
                match kernel::build(arch, flavor, release) {
                    Ok(k) => println!("{arch}: {}", k.boot_file.display()),
                    Err(e) => return fail(&e),
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Run {
            arch,
            firmware,
            qemu,
        } => {
            let kernel =
                match kernel::build_for(arch, firmware, Flavor::Run, qemu.release, &qemu.cmdline) {
                    Ok(k) => k,
                    Err(e) => return fail(&e),
                };
            match qemu::run(&kernel, &qemu.config(true)) {
                Ok(result) if result.outcome.is_success() => ExitCode::SUCCESS,
                Ok(result) => fail(&format!("vsva {}", result.outcome.describe())),
                Err(e) => fail(&e),
            }
        }
        Cmd::Acpi { files, json } => match acpi::run(&files, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Cmd::Bench => match bench::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Cmd::Test {
            arch,
            firmware,
            filter,
            host_only,
            kernel_only,
            qemu,
        } => {
            let plan = test::TestPlan {
                arches: arch.map_or(Arch::ALL.to_vec(), |a| vec![a]),
                firmwares: firmware.map_or(Firmware::ALL.to_vec(), |f| vec![f]),
                host: !kernel_only,
                kernel: !host_only,
                filter,
                release: qemu.release,
                run: qemu.config(true),
            };
            let total = test::run(&plan);
            if total.failed == 0 && total.passed > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("xtask: {message}");
    ExitCode::FAILURE
}
