//! The guest side of vsva's hypercall ABI ([`vsva_abi`]): the trapping
//! instruction for each architecture (`HVC #0` on aarch64, `VMMCALL` on
//! x86_64) and typed wrappers for the calls. A C header with the same calls is
//! in `include/vsva.h`.
//!
//! Calls return [`HvError`] on failure; ABI 0.2 added the vSVA calls
//! ([`sva`]) and their errors [`HvError::Unsupported`], [`HvError::NotFound`],
//! [`HvError::Busy`], [`HvError::TooBig`] and [`HvError::IommuError`]
//! (`abi/README.md` says which call returns which, and when); ABI 0.3 added
//! the event ring and page responses ([`sva::events`]).
//!
//! Only [`raw`] contains `unsafe`: it executes the trapping instruction, which
//! touches no guest memory itself.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod sva;

pub use vsva_abi::{BootInfo, Call, HvError, VERSION};

/// Issues call `call` with up to six arguments; returns `(status, value)` as
/// the ABI defines them (status 0 or a negative [`HvError`] code).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
#[allow(unsafe_code)]
pub fn raw(function_id: u32, args: [u64; 6]) -> (i64, u64) {
    let status: u64;
    let value: u64;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: HVC traps to vsva, which reads x0..x6 and writes x0/x1 only
    // (SMCCC: x2..x17 may be clobbered by a callee in general; vsva preserves
    // them, but they are marked clobbered for callee-agnostic safety).
    unsafe {
        core::arch::asm!(
            "hvc #0",
            inout("x0") u64::from(function_id) => status,
            inout("x1") args[0] => value,
            inout("x2") args[1] => _,
            inout("x3") args[2] => _,
            inout("x4") args[3] => _,
            inout("x5") args[4] => _,
            inout("x6") args[5] => _,
            options(nostack)
        );
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: VMMCALL exits to vsva, which reads rax, rdi, rsi, rdx, rcx, r8,
    // r9 and writes rax/rdx only.
    unsafe {
        core::arch::asm!(
            "vmmcall",
            inout("rax") u64::from(function_id) => status,
            in("rdi") args[0],
            in("rsi") args[1],
            inout("rdx") args[2] => value,
            in("rcx") args[3],
            in("r8") args[4],
            in("r9") args[5],
            options(nostack)
        );
    }
    (status as i64, value)
}

/// Issues `call`; the value on success, the error otherwise (an unknown
/// negative status is reported as [`HvError::UnknownCall`]).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn call(call: Call, args: [u64; 6]) -> Result<u64, HvError> {
    match raw(call.function_id(), args) {
        (0, value) => Ok(value),
        (status, _) => Err(HvError::from_status(status).unwrap_or(HvError::UnknownCall)),
    }
}

/// The ABI version vsva implements.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn version() -> Result<u64, HvError> {
    call(Call::Version, [0; 6])
}

/// Writes `text` to vsva's console, in pieces of at most
/// [`vsva_abi::CONSOLE_MAX`] bytes. The text must be in the caller's RAM
/// and, with the MMU on, identity mapped (vsva reads it by guest-physical
/// address).
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn console_write(text: &str) -> Result<(), HvError> {
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        // Split on a character boundary so each piece is valid UTF-8.
        let mut n = rest.len().min(vsva_abi::CONSOLE_MAX as usize);
        while n < rest.len() && n > 0 && (rest[n] & 0xc0) == 0x80 {
            n -= 1;
        }
        let (piece, tail) = rest.split_at(n);
        call(
            Call::ConsoleWrite,
            [piece.as_ptr() as u64, piece.len() as u64, 0, 0, 0, 0],
        )?;
        rest = tail;
    }
    Ok(())
}

/// Ends the partition with `code`.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn exit(code: u64) -> ! {
    let _ = call(Call::Exit, [code, 0, 0, 0, 0, 0]);
    // vsva never returns from Exit; if it did, stop here.
    loop {
        core::hint::spin_loop();
    }
}

/// Starts this partition's stopped vCPU `vcpu` at `entry` with `arg`.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn vcpu_start(vcpu: u64, entry: u64, arg: u64) -> Result<(), HvError> {
    call(Call::VcpuStart, [vcpu, entry, arg, 0, 0, 0]).map(|_| ())
}

/// Gives up the rest of this time slice.
#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
pub fn yield_now() -> Result<(), HvError> {
    call(Call::Yield, [0; 6]).map(|_| ())
}

/// A `core::fmt::Write` sink over [`console_write`], buffering a line at a time.
#[derive(Debug)]
pub struct Console {
    buf: [u8; 256],
    len: usize,
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Console {
    /// An empty console buffer.
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    /// Sends what is buffered.
    #[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
    pub fn flush(&mut self) {
        if let Ok(text) = core::str::from_utf8(&self.buf[..self.len]) {
            let _ = console_write(text);
        }
        self.len = 0;
    }
}

#[cfg(any(target_arch = "aarch64", target_arch = "x86_64"))]
impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            let mut utf8 = [0; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            if self.len + bytes.len() > self.buf.len() {
                self.flush();
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
            if c == '\n' {
                self.flush();
            }
        }
        Ok(())
    }
}
