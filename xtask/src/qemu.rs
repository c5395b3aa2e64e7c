//! Running a kernel in QEMU: the command line, the time limit, the serial
//! output, and what the exit status means.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::arch::{Arch, Firmware};
use crate::kernel::{self, Kernel};

/// OVMF from Debian's `ovmf` (4 MiB flash layout): code, and the variable store
/// template each run copies.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// AAVMF from Debian's `qemu-efi-aarch64`.
const QEMU_EFI_AARCH64: &str = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd";

/// Oldest QEMU with what vsva needs (SMMUv3 nesting, VT-d first-stage).
pub const MIN_VERSION: (u32, u32) = (10, 0);

/// The exit statuses the kernel chooses (kernel/src/exit.rs): `(v << 1) | 1`
/// for isa-debug-exit values 0x10, 0x11, 0x12; semihosting passes the same.
pub const STATUS_SUCCESS: i32 = 33;
pub const STATUS_TESTS_FAILED: i32 = 35;
pub const STATUS_CRASH: i32 = 37;

/// Accelerator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    Tcg,
    Kvm,
}

/// Which IOMMU configuration QEMU emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum IommuConfig {
    /// x86_64: scalable mode with first-stage translation and PASIDs
    /// (x-scalable-mode, x-flts, x-pasid-mode); aarch64: SMMUv3.
    Default,
    /// x86_64: scalable mode with second-stage translation (no x-flts).
    VtdScalableSecondStage,
    /// x86_64: legacy mode (no scalable mode).
    VtdLegacy,
    /// aarch64: the SMMU gets a linear stream table (`vsva.smmu=linear`; QEMU
    /// cannot go back from 2-level to linear within one boot).
    SmmuLinear,
}

impl IommuConfig {
    /// The `-device intel-iommu,...` options (x86_64).
    fn intel_iommu(self) -> &'static str {
        match self {
            IommuConfig::Default => {
                "intel-iommu,intremap=on,x-scalable-mode=on,x-flts=on,x-pasid-mode=on"
            }
            IommuConfig::VtdScalableSecondStage => {
                "intel-iommu,intremap=on,x-scalable-mode=on,x-pasid-mode=on"
            }
            IommuConfig::VtdLegacy | IommuConfig::SmmuLinear => "intel-iommu,intremap=on",
        }
    }

    /// Kernel command-line words this configuration needs.
    pub fn cmdline(self) -> &'static str {
        match self {
            IommuConfig::SmmuLinear => "vsva.smmu=linear",
            _ => "",
        }
    }
}

impl std::fmt::Display for IommuConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IommuConfig::Default => "default IOMMU",
            IommuConfig::VtdScalableSecondStage => "VT-d scalable, second stage",
            IommuConfig::VtdLegacy => "VT-d legacy",
            IommuConfig::SmmuLinear => "SMMU linear stream table",
        })
    }
}

/// How to run one kernel.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub accel: Accel,
    /// Kernel command line (`-append`).
    pub cmdline: String,
    /// `None`: no limit (interactive debugging).
    pub timeout: Option<Duration>,
    /// Wait for gdb on :1234 before the first instruction.
    pub gdb: bool,
    /// Copy serial output to our stdout as it arrives.
    pub echo: bool,
    pub extra_args: Vec<String>,
    /// The IOMMU configuration (x86_64 only has variants).
    pub iommu: IommuConfig,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel exited with success.
    Success,
    /// The kernel ran its tests and some failed.
    TestsFailed,
    /// Panic or fatal exception; `reason` is the kernel's own report line.
    Crash { reason: String },
    /// The machine reset or powered off without the exit device: on x86 a triple
    /// fault (QEMU exits 0 with -no-reboot), on aarch64 PSCI SYSTEM_OFF.
    Reset,
    /// No exit within the time limit: a hang. QEMU was killed.
    Timeout(Duration),
    /// QEMU itself failed (bad option, missing file, abort) with this status.
    QemuFailed(String),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        *self == Outcome::Success
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Success => "exited successfully".into(),
            Outcome::TestsFailed => "in-kernel tests failed".into(),
            Outcome::Crash { reason } => format!("crashed: {reason}"),
            Outcome::Reset => {
                "the machine reset or powered off unexpectedly (triple fault or PSCI off)".into()
            }
            Outcome::Timeout(d) => format!("hung: no exit within {} s, QEMU killed", d.as_secs()),
            Outcome::QemuFailed(why) => format!("QEMU failed: {why}"),
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub outcome: Outcome,
    /// Everything the kernel printed, line by line.
    pub lines: Vec<String>,
    /// When each line arrived, since QEMU was started (host wall time).
    pub arrivals: Vec<Duration>,
}

/// Reads `qemu --version` and refuses anything older than [`MIN_VERSION`], with
/// the commands that install a new enough QEMU.
pub fn check_version(arch: Arch) -> Result<(), String> {
    let install = format!(
        "vsva needs QEMU {}.{} or newer. On Debian bookworm, install it from bookworm-backports:\n\
         \n  uri=$(awk '/^URIs:/{{print $2; exit}}' /etc/apt/sources.list.d/debian.sources)\n  \
         echo \"deb $uri bookworm-backports main\" > /etc/apt/sources.list.d/backports.list\n  \
         apt-get update\n  apt-get install -y -t bookworm-backports {}\n\n(.ci/run does exactly this.)",
        MIN_VERSION.0,
        MIN_VERSION.1,
        Arch::ALL.map(|a| a.qemu_package()).join(" "),
    );
    let out = match Command::new(arch.qemu()).arg("--version").output() {
        Ok(out) => out,
        Err(_) => return Err(format!("{} not found.\n{install}", arch.qemu())),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    match parse_version(&text) {
        Some(v) if v >= MIN_VERSION => Ok(()),
        Some((major, minor)) => Err(format!(
            "{} is version {major}.{minor}, too old.\n{install}",
            arch.qemu()
        )),
        None => Err(format!(
            "cannot read the version of {} from {text:?}.\n{install}",
            arch.qemu()
        )),
    }
}

/// `QEMU emulator version 10.0.2 (Debian ...)` -> (10, 0).
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let rest = text.split("version ").nth(1)?;
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Checks the UEFI firmware files are installed, with the command if not.
pub fn check_firmware(arch: Arch) -> Result<(), String> {
    let (files, package): (&[&str], &str) = match arch {
        Arch::X86_64 => (&[OVMF_CODE, OVMF_VARS], "ovmf"),
        Arch::Aarch64 => (&[QEMU_EFI_AARCH64], "qemu-efi-aarch64"),
    };
    match files.iter().find(|f| !std::path::Path::new(f).exists()) {
        None => Ok(()),
        Some(missing) => Err(format!(
            "{missing} is missing: UEFI boot on {arch} needs Debian's {package} \
             (apt-get install -y {package}; .ci/run does this)"
        )),
    }
}

/// The QEMU arguments that boot `kernel`: `-kernel` for a direct boot; for UEFI
/// the firmware, the loader's FAT volume on virtio-blk, and no boot menu wait.
fn boot_args(kernel: &Kernel, config: &RunConfig) -> Vec<String> {
    let mut args = Vec::new();
    match (&kernel.esp, kernel.firmware) {
        (Some(esp), Firmware::Uefi) => {
            match kernel.arch {
                Arch::X86_64 => {
                    let vars = kernel::workspace_root().join("target/kernel/OVMF_VARS_4M.fd");
                    // A fresh variable store each run: no boot entries left from before.
                    let _ = std::fs::copy(OVMF_VARS, &vars);
                    args.extend([
                        "-drive".into(),
                        format!("if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"),
                        "-drive".into(),
                        format!("if=pflash,format=raw,unit=1,file={}", vars.display()),
                    ]);
                }
                Arch::Aarch64 => args.extend(["-bios".into(), QEMU_EFI_AARCH64.into()]),
            }
            args.extend([
                "-drive".into(),
                format!("if=none,id=esp,format=raw,file=fat:rw:{}", esp.display()),
                "-device".into(),
                "virtio-blk-pci,drive=esp".into(),
                "-boot".into(),
                "menu=on,splash-time=0".into(),
            ]);
        }
        _ => {
            args.push("-kernel".into());
            args.push(kernel.boot_file.display().to_string());
            if !config.cmdline.is_empty() {
                args.push("-append".into());
                args.push(config.cmdline.clone());
            }
        }
    }
    args
}

/// The NVMe controller every machine gets, at a fixed slot so that the UEFI
/// boot's virtio-blk does not move it.
pub const NVME: &str = "nvme,serial=vsva-nvme,addr=08.0";

/// Devices behind bridges, for the isolation groups: an edu alone behind a
/// PCI Express Root Port (which has ACS), assignable, and QEMU's test device
/// behind a PCIe-to-PCI bridge, which vsva refuses (alias requester IDs).
pub const BRIDGED: [&str; 8] = [
    "-device",
    "pcie-root-port,id=vsva-rp,chassis=1,addr=09.0",
    "-device",
    "edu,bus=vsva-rp,dma_mask=0xffffffffffffffff",
    "-device",
    "pcie-pci-bridge,id=vsva-pb,addr=0a.0",
    "-device",
    "pci-testdev,bus=vsva-pb,addr=01.0",
];

/// The QEMU command line for `kernel`: the IOMMU on, an edu device that can
/// address all memory, and the exit path the kernel uses.
pub fn command_line(kernel: &Kernel, config: &RunConfig) -> Vec<String> {
    let accel = match config.accel {
        Accel::Tcg => "tcg",
        Accel::Kvm => "kvm",
    };
    let mut args: Vec<String> = match kernel.arch {
        Arch::X86_64 => [
            "-machine",
            "q35,kernel-irqchip=split",
            "-cpu",
            "max",
            "-device",
            config.iommu.intel_iommu(),
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
        ]
        .map(String::from)
        .to_vec(),
        Arch::Aarch64 => [
            "-machine",
            "virt,virtualization=on,iommu=smmuv3,gic-version=3",
            "-cpu",
            "max",
            "-semihosting",
        ]
        .map(String::from)
        .to_vec(),
    };
    args.extend([
        "-m".to_string(),
        format!("{}M", kernel.arch.ram_bytes() >> 20),
    ]);
    args.extend(
        [
            "-accel",
            accel,
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
            // edu's default dma_mask is 28 bits; DMA must reach all of RAM.
            "-device",
            "edu,dma_mask=0xffffffffffffffff",
            // An NVMe controller without namespaces: a device with Function
            // Level Reset, for the resets between owners (edu has none).
            "-device",
            NVME,
        ]
        .map(String::from),
    );
    args.extend(BRIDGED.map(String::from));
    args.extend(boot_args(kernel, config));
    if config.gdb {
        args.extend(["-s", "-S"].map(String::from));
    }
    args.extend(config.extra_args.iter().cloned());
    args
}

/// Maps QEMU's exit status and the kernel's output to an [`Outcome`].
pub fn classify(status: ExitStatus, lines: &[String], stderr: &str) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        return Outcome::QemuFailed(format!("killed by signal {signal}; {}", stderr.trim()));
    }
    match status.code() {
        Some(STATUS_SUCCESS) => Outcome::Success,
        Some(STATUS_TESTS_FAILED) => Outcome::TestsFailed,
        Some(STATUS_CRASH) => Outcome::Crash {
            reason: crash_reason(lines),
        },
        Some(0) => Outcome::Reset,
        Some(code) => Outcome::QemuFailed(format!("exit status {code}; {}", stderr.trim())),
        None => Outcome::QemuFailed("no exit status".into()),
    }
}

/// The kernel's report of a crash: the `*** ...` line and up to three indented
/// lines after it (decoded error code or syndrome, faulting address, PC).
fn crash_reason(lines: &[String]) -> String {
    let Some(at) = lines.iter().position(|l| l.starts_with("*** ")) else {
        return "no report from the kernel".into();
    };
    let mut reason = lines[at].trim_start_matches("*** ").to_string();
    for next in lines[at + 1..]
        .iter()
        .take(3)
        .take_while(|l| l.starts_with("    "))
    {
        reason.push_str("; ");
        reason.push_str(next.trim());
    }
    reason
}

/// Runs `kernel` in QEMU and waits for it, within the time limit.
pub fn run(kernel: &Kernel, config: &RunConfig) -> Result<RunResult, String> {
    check_version(kernel.arch)?;
    if kernel.firmware == Firmware::Uefi {
        check_firmware(kernel.arch)?;
    }
    let args = command_line(kernel, config);
    if config.gdb {
        eprintln!("xtask: QEMU waits for gdb on localhost:1234; in another terminal run:");
        eprintln!(
            "    {} {} -ex 'target remote localhost:1234'",
            kernel.arch.gdb(),
            kernel.elf.display()
        );
    }
    let started = Instant::now();
    let mut child = Command::new(kernel.arch.qemu())
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", kernel.arch.qemu()))?;
    let lines = Arc::new(Mutex::new((Vec::new(), Vec::new())));
    let reader = {
        let stdout = child.stdout.take().expect("piped");
        let lines = Arc::clone(&lines);
        let echo = config.echo;
        thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                let text = String::from_utf8_lossy(&line)
                    .trim_end_matches('\r')
                    .to_string();
                if echo {
                    println!("{text}");
                }
                let mut lines = lines.lock().expect("reader lock");
                lines.0.push(text);
                lines.1.push(started.elapsed());
            }
        })
    };
    let stderr_reader = {
        let mut stderr = child.stderr.take().expect("piped");
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        })
    };
    let status = wait(&mut child, config.timeout)?;
    let _ = reader.join();
    let stderr = stderr_reader.join().unwrap_or_default();
    let (lines, arrivals) = std::mem::take(&mut *lines.lock().expect("reader lock"));
    let outcome = match status {
        Some(status) => classify(status, &lines, &stderr),
        None => Outcome::Timeout(config.timeout.unwrap_or_default()),
    };
    Ok(RunResult {
        outcome,
        lines,
        arrivals,
    })
}

/// Waits for `child`; `None` when the time limit ran out (the child is killed).
fn wait(child: &mut Child, timeout: Option<Duration>) -> Result<Option<ExitStatus>, String> {
    let start = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for QEMU: {e}"))?
        {
            return Ok(Some(status));
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn status(code: i32) -> ExitStatus {
        ExitStatus::from_raw(code << 8)
    }

    #[test]
    fn versions_parse_and_compare() {
        let v =
            parse_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n");
        assert_eq!(v, Some((10, 0)));
        assert!(v.unwrap() >= MIN_VERSION);
        assert_eq!(parse_version("QEMU emulator version 7.2.15"), Some((7, 2)));
        assert!(parse_version("QEMU emulator version 7.2.15").unwrap() < MIN_VERSION);
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn exit_statuses_map_to_outcomes() {
        let lines: Vec<String> = [
            "boot",
            "*** kernel panic at a.rs:1:2: boom",
            "    more",
            "x",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(classify(status(33), &lines, ""), Outcome::Success);
        assert_eq!(classify(status(35), &lines, ""), Outcome::TestsFailed);
        assert_eq!(
            classify(status(37), &lines, ""),
            Outcome::Crash {
                reason: "kernel panic at a.rs:1:2: boom; more".into()
            }
        );
        // A triple fault with -no-reboot exits 0: never a pass.
        assert_eq!(classify(status(0), &lines, ""), Outcome::Reset);
        assert!(
            matches!(classify(status(1), &lines, "bad option"), Outcome::QemuFailed(s) if s.contains("bad option"))
        );
        assert!(
            matches!(classify(ExitStatus::from_raw(6), &lines, ""), Outcome::QemuFailed(s) if s.contains("signal 6"))
        );
    }

    #[test]
    fn command_lines_enable_the_iommu_edu_and_the_exit_path() {
        let config = RunConfig {
            accel: Accel::Tcg,
            cmdline: "vsva.test=frames".into(),
            timeout: None,
            gdb: true,
            echo: false,
            extra_args: vec!["-d".into(), "int".into()],
            iommu: IommuConfig::Default,
        };
        let x86 = Kernel {
            arch: Arch::X86_64,
            elf: "k.elf".into(),
            boot_file: "k.elf".into(),
            firmware: Firmware::Direct,
            esp: None,
        };
        let line = command_line(&x86, &config).join(" ");
        assert!(line.contains("-device intel-iommu,intremap=on,x-scalable-mode=on"));
        assert!(line.contains("-device isa-debug-exit,iobase=0xf4"));
        assert!(line.contains("-device edu,dma_mask=0xffffffffffffffff"));
        assert!(line.contains("-device nvme,serial=vsva-nvme,addr=08.0"));
        assert!(line.contains("-device edu,bus=vsva-rp,dma_mask=0xffffffffffffffff"));
        assert!(line.contains("-append vsva.test=frames"));
        assert!(line.contains("-s -S"));
        assert!(line.ends_with("-d int"));
        let arm = Kernel {
            arch: Arch::Aarch64,
            elf: "k.elf".into(),
            boot_file: "k.img".into(),
            firmware: Firmware::Direct,
            esp: None,
        };
        let line = command_line(&arm, &config).join(" ");
        assert!(line.contains("virt,virtualization=on,iommu=smmuv3,gic-version=3"));
        assert!(line.contains("-semihosting"));
        assert!(line.contains("-kernel k.img"));
        let uefi = Kernel {
            firmware: Firmware::Uefi,
            esp: Some("/tmp/esp".into()),
            boot_file: "/tmp/esp/EFI/BOOT/BOOTAA64.EFI".into(),
            ..arm
        };
        let line = command_line(&uefi, &config).join(" ");
        assert!(line.contains("-bios /usr/share/qemu-efi-aarch64/QEMU_EFI.fd"));
        assert!(line.contains("file=fat:rw:/tmp/esp"));
        assert!(line.contains("-boot menu=on,splash-time=0"));
        assert!(!line.contains("-kernel") && !line.contains("-append"));
    }
}
