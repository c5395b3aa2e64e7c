//! Host rigs for the service tests: the shared ones of `vsva_sva::sim`
//! (RAM in simulated memory, a guest calling by guest-physical address,
//! guest tables, the VT-d and SMMUv3 models under the service) with what
//! only these tests use: the partitions they set against each other
//! (`vtd`, `smmu`), the calls' structs and helpers both rigs share
//! (`calls`), the guest's side of the event ring (`events`). Every test
//! file includes all of it and uses a part (hence the allowances).
#![allow(dead_code, unused_imports)]

pub mod calls;
pub mod events;
pub mod smmu;
pub mod vtd;

pub use vsva_sva::sim::tables::{VmsaTable, X86Table, vmsa, x86};
pub use vsva_sva::sim::{GUEST_BASE, Guest, Layout, Ram, device, pasids};
