//! The guest's behaviour, independent of the architecture.

use core::sync::atomic::{AtomicU32, Ordering};

use vsva_abi::{BOOT_MAGIC, BootInfo};

use crate::arch;

/// Set by the second vCPU once it ran.
static SECONDARY_RAN: AtomicU32 = AtomicU32::new(0);

/// The second vCPU's stack.
#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut SECONDARY_STACK: Stack = Stack([0; 16 * 1024]);

/// The last interrupt the handler took (0 = none yet).
pub(crate) static LAST_INTERRUPT: AtomicU32 = AtomicU32::new(0);

/// Exit codes the hypervisor's tests look for.
pub mod code {
    pub const BAD_BOOT_INFO: u64 = 0xbad0;
    pub const ESCAPE_NOT_STOPPED: u64 = 0xbad1;
    pub const MEMORY_MISMATCH: u64 = 0xbad2;
    pub const NO_INTERRUPT: u64 = 0xbad3;
    pub const BAD_WORD: u64 = 0xbad4;
    pub const HOSTILE_ACCEPTED: u64 = 0xbad5;
    pub const NO_EDU: u64 = 0xbad6;
    pub const EDU_DMA_LOST: u64 = 0xbad7;
    pub const EDU_TIMEOUT: u64 = 0xbad8;
    pub const FPU_CLOBBERED: u64 = 0xbad9;
    pub const PSCI_WRONG: u64 = 0xbada;
    pub const STILL_RUNNING: u64 = 0xbadb;
    pub const NO_SECONDARY: u64 = 0xbadc;
    pub const PKRU_CLOBBERED: u64 = 0xbadd;
    pub const SVA_FAILED: u64 = 0xbade;
    pub const SVA_DMA_LOST: u64 = 0xbadf;
    pub const MISSTEPPED: u64 = 0xbae0;
    pub const EXCEPTION: u64 = 0xe000;
    pub const INTERRUPT: u64 = 0x100;
}

macro_rules! say {
    ($($arg:tt)*) => {{
        let mut c = vsva_guest::Console::new();
        let _ = core::fmt::Write::write_fmt(&mut c, format_args!("{}\n", format_args!($($arg)*)));
    }};
}

mod sva;

/// Called by the entry code with the boot information's address.
pub fn main(info: &BootInfo) -> ! {
    if info.magic != BOOT_MAGIC {
        vsva_guest::exit(code::BAD_BOOT_INFO);
    }
    arch::init(info);
    say!(
        "hello from partition {}: RAM {:#x}+{:#x}, ABI {:#x}, command line {:?}",
        info.partition,
        info.ram_base,
        info.ram_size,
        vsva_guest::version().unwrap_or(0),
        info.cmdline()
    );
    let mut exit = 0;
    for word in info.cmdline().split_whitespace() {
        let (name, value) = word.split_once('=').unwrap_or((word, ""));
        match name {
            "memory" => memory(info),
            "escape" => escape(value),
            "spin" => arch::spin(),
            "irq" => wait_for_interrupt(None),
            "timer" => {
                arch::arm_virtual_timer(1_000_000);
                wait_for_interrupt(Some(arch::VIRTUAL_TIMER_INTID));
            }
            "hostile" => hostile(info),
            "edu" => edu(info, value),
            "sva" => sva::stage1(info, value),
            "sva-cd" => sva::cd_table(info),
            "sva-fault" => sva::events::fault(info),
            "sva-flood" => sva::events::flood(info),
            "events" => sva::events::quiet(),
            "bench" => sva::bench::run(info),
            "fpu" => fpu(parse(value).unwrap_or(1)),
            "pkru" => pkru(parse(value).unwrap_or(0) as u32),
            "psci" => arch::psci_checks_then_off(),
            "smp" => smp(false),
            "smp-psci" => smp(true),
            "bad-mmio" => {
                say!("reading the configuration window with an instruction vsva does not emulate");
                arch::unemulated_read(info.config_base);
                still_running();
            }
            "prefixed" => {
                let marker = arch::prefixed_cache_writebacks();
                if marker != 0x600d {
                    say!("after WBNOINVD and a prefixed WBINVD RAX is {marker:#x}");
                    vsva_guest::exit(code::MISSTEPPED);
                }
                say!("prefixed: WBNOINVD and CS-prefixed WBINVD stepped over");
            }
            "port-string" => {
                let mut buffer = [0u8; 4];
                arch::string_port_input(&mut buffer);
                say!("rep insb did not fault; the buffer holds {buffer:x?}");
                still_running();
            }
            "misbehave" => {
                say!("doing something vsva does not allow");
                arch::misbehave();
            }
            "exit" => exit = parse(value).unwrap_or(code::BAD_WORD),
            _ => {
                say!("unknown word {word:?}");
                vsva_guest::exit(code::BAD_WORD);
            }
        }
    }
    say!("partition {} done, exit {exit:#x}", info.partition);
    vsva_guest::exit(exit)
}

/// A decimal or `0x` hexadecimal number, `_` separators allowed.
fn parse(value: &str) -> Option<u64> {
    let (digits, radix) = match value.strip_prefix("0x") {
        Some(hex) => (hex, 16),
        None => (value, 10),
    };
    let mut n: u64 = 0;
    let mut any = false;
    for c in digits.chars().filter(|&c| c != '_') {
        n = n
            .checked_mul(radix)?
            .checked_add(u64::from(c.to_digit(radix as u32)?))?;
        any = true;
    }
    any.then_some(n)
}

/// Fills and checks 256 KiB at the middle of RAM.
fn memory(info: &BootInfo) {
    const LEN: usize = 256 * 1024;
    let start = info.ram_base + info.ram_size / 2;
    let fill = 0xa0u8.wrapping_add(info.partition as u8);
    let region = arch::memory(start, LEN);
    region.fill(fill);
    if let Some(bad) = region.iter().position(|&b| b != fill) {
        say!("memory: mismatch at {:#x}", start + bad as u64);
        vsva_guest::exit(code::MEMORY_MISMATCH);
    }
    say!("memory: {LEN} bytes at {start:#x} written with {fill:#04x} and read back");
}

/// Holds `value` in PKRU across yields.
fn pkru(value: u32) {
    if !arch::enable_protection_keys() {
        say!("pkru: the CPU has no protection keys");
        vsva_guest::exit(code::BAD_WORD);
    }
    hold_across_yields("pkru", u64::from(value), code::PKRU_CLOBBERED, |v| {
        u64::from(arch::yield_holding_pkru(v as u32))
    });
}

/// Starts the second vCPU (by VcpuStart, or by PSCI CPU_ON) and waits for
/// it to have run.
fn smp(psci: bool) {
    let top = core::ptr::addr_of!(SECONDARY_STACK) as u64 + 16 * 1024;
    let started = if psci {
        arch::psci_cpu_on(1, arch::secondary_entry(), top)
    } else {
        vsva_guest::vcpu_start(1, arch::secondary_entry(), top).map_err(|e| e as i64)
    };
    if let Err(e) = started {
        say!("smp: vCPU 1 not started ({e})");
        vsva_guest::exit(code::NO_SECONDARY);
    }
    for _ in 0..1_000 {
        if SECONDARY_RAN.load(Ordering::SeqCst) == 1 {
            say!("smp: two vCPUs ran");
            return;
        }
        let _ = vsva_guest::yield_now();
    }
    say!("smp: vCPU 1 never ran");
    vsva_guest::exit(code::NO_SECONDARY)
}

/// The second vCPU, after its entry code.
pub fn secondary() -> ! {
    say!("hello from vCPU 1");
    SECONDARY_RAN.store(1, Ordering::SeqCst);
    arch::vcpu_off()
}

/// Holds `value` in the first FP/SIMD register across yields.
fn fpu(value: u64) {
    hold_across_yields("fpu", value, code::FPU_CLOBBERED, arch::yield_holding_fp);
}

/// 50 times: puts a value in a register, yields with `hold` (which returns
/// the register afterwards) and checks it is still there: another
/// partition doing the same with its own values must not disturb it.
fn hold_across_yields(what: &str, value: u64, failure: u64, hold: impl Fn(u64) -> u64) {
    for round in 0..50 {
        let expected = value ^ round;
        let got = hold(expected);
        if got != expected {
            say!("{what}: round {round}: {got:#x} instead of {expected:#x}");
            vsva_guest::exit(failure);
        }
    }
    say!("{what}: {value:#x} kept across 50 switches");
}

/// Calls with bad arguments: each must be refused with the right error.
fn hostile(info: &BootInfo) {
    use vsva_abi::{CONSOLE_MAX, Call, HvError};
    let outside = info.ram_base + info.ram_size;
    let cases: [(&str, u32, [u64; 6], HvError); 5] = [
        (
            "console text outside RAM",
            Call::ConsoleWrite.function_id(),
            [outside, 16, 0, 0, 0, 0],
            HvError::BadArgument,
        ),
        (
            "console text straddling the end of RAM",
            Call::ConsoleWrite.function_id(),
            [outside - 8, 16, 0, 0, 0, 0],
            HvError::BadArgument,
        ),
        (
            "console text longer than the limit",
            Call::ConsoleWrite.function_id(),
            [info.ram_base, CONSOLE_MAX + 1, 0, 0, 0, 0],
            HvError::BadArgument,
        ),
        (
            "console address that wraps",
            Call::ConsoleWrite.function_id(),
            [u64::MAX - 3, 16, 0, 0, 0, 0],
            HvError::BadArgument,
        ),
        (
            "an unknown call number",
            Call::Version.function_id() | 0x7ff,
            [0; 6],
            HvError::UnknownCall,
        ),
    ];
    for (what, function, args, expected) in cases {
        let (status, _) = vsva_guest::raw(function, args);
        if HvError::from_status(status) != Some(expected) {
            say!("hostile: {what}: status {status}, expected {expected:?}");
            vsva_guest::exit(code::HOSTILE_ACCEPTED);
        }
    }
    say!("hostile: all {} bad calls refused", cases.len());
    sva::hostile(info);
}

/// edu's registers (QEMU docs/specs/edu.rst) and its buffer's DMA address.
pub(crate) mod edu {
    pub const VENDOR_DEVICE: u32 = 0x11e8_1234;
    pub const DMA_SRC: u64 = 0x80;
    pub const DMA_DST: u64 = 0x88;
    pub const DMA_COUNT: u64 = 0x90;
    pub const DMA_CMD: u64 = 0x98;
    /// Command bits: start (0), direction device-to-RAM (1).
    pub const START: u64 = 1;
    pub const TO_RAM: u64 = 2;
    pub const BUFFER: u64 = 0x40000;
    pub const LEN: usize = 64;
}

/// Finds edu in the configuration window: its device number and BAR0
/// address, with memory decoding and bus mastering turned on.
fn find_edu(info: &BootInfo) -> Option<(u64, u64)> {
    if info.config_size == 0 {
        return None;
    }
    for device in 0..32u64 {
        let function = info.config_base + (device << 15);
        if arch::read32(function) != edu::VENDOR_DEVICE {
            continue;
        }
        let bar0 = u64::from(arch::read32(function + 0x10) & !0xf);
        // Command: memory space (1) and bus master (2).
        arch::write32(function + 4, 0x6);
        say!("edu at 00:{device:02x}.0, BAR0 {bar0:#x}");
        return Some((device, bar0));
    }
    None
}

/// One edu transfer of `edu::LEN` bytes, polled to completion.
pub(crate) fn edu_dma(bar: u64, src: u64, dst: u64, to_ram: bool) {
    edu_dma_yielding(bar, (src, dst), to_ram, 10_000);
}

/// [`edu_dma`] yielding up to `yields` times while it waits: under QEMU
/// `-icount` the 100 ms of virtual time pass only as instructions run.
pub(crate) fn edu_dma_yielding(bar: u64, (src, dst): (u64, u64), to_ram: bool, yields: u32) {
    arch::write64(bar + edu::DMA_SRC, src);
    arch::write64(bar + edu::DMA_DST, dst);
    arch::write64(bar + edu::DMA_COUNT, edu::LEN as u64);
    arch::write64(
        bar + edu::DMA_CMD,
        edu::START | if to_ram { edu::TO_RAM } else { 0 },
    );
    // A transfer takes 100 ms of virtual time; yield meanwhile.
    for _ in 0..yields {
        if arch::read64(bar + edu::DMA_CMD) & edu::START == 0 {
            return;
        }
        let _ = vsva_guest::yield_now();
    }
    say!("edu DMA did not complete");
    vsva_guest::exit(code::EDU_TIMEOUT);
}

fn edu(info: &BootInfo, blocked: &str) {
    let Some((_, bar)) = find_edu(info) else {
        say!("no edu in the configuration window");
        vsva_guest::exit(code::NO_EDU);
    };
    let src = info.ram_base + info.ram_size / 2 + 0x10_0000;
    let dst = src + 0x1000;
    let pattern = 0x5au8.wrapping_add(info.partition as u8);
    arch::memory(src, edu::LEN).fill(pattern);
    arch::memory(dst, edu::LEN).fill(0);
    edu_dma(bar, src, edu::BUFFER, false);
    edu_dma(bar, edu::BUFFER, dst, true);
    if arch::memory(dst, edu::LEN).iter().any(|&b| b != pattern) {
        say!("edu: the DMA to {dst:#x} did not arrive");
        vsva_guest::exit(code::EDU_DMA_LOST);
    }
    say!("edu: DMA through the IOMMU to {dst:#x} arrived");
    for target in blocked.split(',').filter(|t| !t.is_empty()) {
        let Some(addr) = parse(target) else {
            vsva_guest::exit(code::BAD_WORD);
        };
        say!("edu: DMA to {addr:#x}, outside this partition");
        edu_dma(bar, edu::BUFFER, addr, true);
    }
}

/// Writes outside the partition; the hypervisor must stop it.
fn escape(value: &str) -> ! {
    let Some(addr) = parse(value) else {
        vsva_guest::exit(code::BAD_WORD);
    };
    say!("writing to {addr:#x}, outside this partition");
    arch::write_u64(addr, 0x5a5a_5a5a_5a5a_5a5a);
    say!("the write to {addr:#x} was not stopped");
    vsva_guest::exit(code::ESCAPE_NOT_STOPPED)
}

/// Unmasks interrupts and waits (bounded) for one; exits with its INTID.
fn wait_for_interrupt(expected: Option<u32>) -> ! {
    arch::enable_interrupts();
    say!("waiting for an interrupt");
    for _ in 0..1_000 {
        let intid = LAST_INTERRUPT.load(Ordering::SeqCst);
        if intid != 0 && expected.is_none_or(|e| e == intid) {
            say!("virtual interrupt {intid} handled");
            vsva_guest::exit(code::INTERRUPT + u64::from(intid));
        }
        // Check and sleep without a window in between: an interrupt that came
        // just after the check would otherwise leave WFI/HLT waiting for
        // one more that never comes.
        arch::wait_unless(|| LAST_INTERRUPT.load(Ordering::SeqCst) != 0);
    }
    say!("no interrupt came");
    vsva_guest::exit(code::NO_INTERRUPT)
}

/// Called by the architecture's interrupt handler after acknowledging.
pub fn interrupt(intid: u32) {
    LAST_INTERRUPT.store(intid, Ordering::SeqCst);
}

/// PSCI did not answer as it should (or SYSTEM_OFF returned).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub fn report_psci(version: u64, features: u64, unknown: u64) -> ! {
    say!("psci: version {version:#x}, SYSTEM_OFF feature {features:#x}, unknown {unknown:#x}");
    vsva_guest::exit(code::PSCI_WRONG)
}

/// vsva let something through that it should have stopped.
pub fn still_running() -> ! {
    say!("still running after misbehaving");
    vsva_guest::exit(code::STILL_RUNNING)
}

/// A word this architecture cannot do.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
pub fn unsupported(what: &str) -> ! {
    say!("unsupported here: {what}");
    vsva_guest::exit(code::BAD_WORD)
}

/// Called by the architecture's exception handler: reports and exits.
pub fn exception(class: u64, syndrome: u64, pc: u64, address: u64) -> ! {
    say!(
        "guest exception: class {class:#x}, syndrome {syndrome:#x}, pc {pc:#x}, address {address:#x}"
    );
    vsva_guest::exit(code::EXCEPTION + class)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("guest panic: {info}");
    vsva_guest::exit(0xdead)
}
