//! The guest's behaviour, independent of the architecture.

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use vsva_abi::{BOOT_MAGIC, BootInfo};
use vsva_guest::Console;

use crate::arch;

/// The last interrupt the handler took (0 = none yet).
static LAST_INTERRUPT: AtomicU32 = AtomicU32::new(0);

/// Exit codes the hypervisor's tests look for.
pub mod code {
    pub const BAD_BOOT_INFO: u64 = 0xbad0;
    pub const ESCAPE_NOT_STOPPED: u64 = 0xbad1;
    pub const MEMORY_MISMATCH: u64 = 0xbad2;
    pub const NO_INTERRUPT: u64 = 0xbad3;
    pub const BAD_WORD: u64 = 0xbad4;
    pub const HOSTILE_ACCEPTED: u64 = 0xbad5;
    pub const EXCEPTION: u64 = 0xe000;
    pub const INTERRUPT: u64 = 0x100;
}

macro_rules! say {
    ($($arg:tt)*) => {{
        let mut c = Console::new();
        let _ = writeln!(c, $($arg)*);
    }};
}

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
        arch::wait();
    }
    say!("no interrupt came");
    vsva_guest::exit(code::NO_INTERRUPT)
}

/// Called by the architecture's interrupt handler after acknowledging.
pub fn interrupt(intid: u32) {
    LAST_INTERRUPT.store(intid, Ordering::SeqCst);
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
