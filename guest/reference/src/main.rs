//! vsva's reference guest kernel. It runs in a partition, sets up its own
//! page tables and exception vectors, prints through the console hypercall,
//! and then does what the words of its command line (from the manifest) ask:
//!
//! - `memory`: fills 256 KiB in the middle of its RAM with `0xa0 + partition`
//!   and reads it back (the hypervisor's tests check the host pages too);
//! - `escape=ADDR`: writes to guest-physical ADDR, outside its RAM: the
//!   hypervisor must stop the partition, so reaching the next word is a failure;
//! - `spin`: spins forever with interrupts masked (time-sharing must go on);
//! - `irq`: waits for a virtual interrupt and exits with `0x100 + INTID`;
//! - `timer`: arms the virtual timer, waits for its interrupt, exits with 0x11b;
//! - `sva[=ADDR]`, `sva-cd`: binds its own page table (or CD table) on edu
//!   and has edu DMA to guest-virtual addresses;
//! - `sva-fault`: edu writes into a hole of its bound table; it reads the
//!   fault record from its event ring, fills the hole, retries;
//! - `sva-flood`: more faults than its ring holds; the next record says how
//!   many were lost;
//! - `events`: registers an event ring and checks that nothing comes;
//! - `bench`: measures a null hypercall and each vSVA call on edu and prints
//!   them as `figure` lines (`cargo xtask bench` boots it under `-icount`);
//! - `port-string` (x86): `rep insb`, which vsva must refuse with #GP(0);
//! - `prefixed` (x86): WBNOINVD and a CS-prefixed WBINVD, which vsva must
//!   step over whole;
//! - `exit=N`: exits with N (default: 0 after the last word).
//!
//! Failures exit with codes 0xbad0 and up, exceptions with 0xe000 + the
//! exception class.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

/// On the host (workspace tests, clippy) the guest is an empty program.
#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod guest;
