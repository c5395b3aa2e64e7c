//! vsva's vSVA service: what a guest kernel asks so that a device assigned to
//! it walks the guest's own stage-1 page tables, nested on the partition's
//! stage 2 (or, where the IOMMU cannot nest, through a shadow vsva keeps).
//!
//! The crate knows partitions only as IDs with RAM, a stage 2 and a PASID
//! quota, and devices only as (IOMMU unit, requester ID) pairs with the ID
//! the guest sees. It drives the VT-d and SMMUv3 drivers through one
//! IOMMU-neutral [`backend::Backend`] trait, reads the caller's memory
//! through [`guest::GuestMemory`], and runs unchanged on the host against
//! the drivers' software models and in the kernel against QEMU.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod backend;
mod calls;
pub mod events;
#[cfg(feature = "sim")]
pub mod fuzz;
pub mod guest;
mod invalidate;
pub mod pasid;
mod routing;
mod service;
pub mod shadow;
#[cfg(feature = "sim")]
pub mod sim;

pub use routing::Delivered;
pub use service::{
    DEFAULT_SHADOW_PAGES, HostDevice, Quarantine, RoutedFault, Sva, SvaError, WALK_LIMIT_PER_CALL,
};

/// A partition, as the kernel numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId(pub u32);
