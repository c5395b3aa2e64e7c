//! Function resets between owners, so that nothing a device holds (registers,
//! buffers, armed DMA) passes from one partition to the next.
//!
//! The methods, in the order vsva prefers them (the order Linux tries them):
//! 1. Function Level Reset of the PCI Express Capability (PCIe Base
//!    Specification §6.6.2; Device Capabilities bit 28, Device Control bit 15).
//! 2. FLR of the Advanced Features Capability (Capability ID 0x13, the PCI
//!    Advanced Capabilities for Conventional PCI ECN: AF Capabilities TP and
//!    FLR, AF Control bit 0, AF Status TP).
//! 3. A D3hot → D0 transition where PMCSR's No_Soft_Reset is clear (PCI Bus
//!    Power Management Interface Specification 1.2 §3.2.4 and §5.4: the
//!    function then goes through an internal reset to D0 Uninitialized).
//! 4. A Secondary Bus Reset by the bridge above (Bridge Control bit 6,
//!    PCI-to-PCI Bridge Architecture §3.2.5.17; PCIe Base Specification
//!    §7.5.1.3.13), only where the function's device is alone on that bus, as
//!    it resets everything there.
//!
//! A reset clears what vsva programmed too (BARs, Command, payload sizes), so
//! [`reset`] saves those first and puts them back with bus mastering off.
//! Every wait is bounded: [`reset`] sleeps a fixed, spec-given time and polls
//! for the function to answer a fixed number of times, then fails with a
//! typed [`ResetError`]; it never spins forever.

use crate::access::{ConfigAccess, ConfigExt};
use crate::capability::{CapabilityId, find_capability};
use crate::express::{DeviceControl, PciExpress, offset as pcie};
use crate::header::{ABSENT_VENDOR_ID, Command, offset};
use crate::{Acs, Bdf};

/// Sleeping, for the waits resets need; the kernel's is bounded by its clock.
pub trait Delay {
    /// Returns after at least `us` microseconds.
    fn delay_us(&mut self, us: u32);
}

/// How a function is reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetMethod {
    /// PCI Express Function Level Reset (PCIe §6.6.2).
    Flr,
    /// Advanced Features FLR (capability 0x13).
    AdvancedFeaturesFlr,
    /// D3hot → D0 with No_Soft_Reset clear (PCI PM 1.2 §5.4).
    PowerManagement,
    /// Secondary Bus Reset by `bridge`, which has nothing else below it.
    SecondaryBus {
        /// The bridge whose secondary bus is reset.
        bridge: Bdf,
    },
}

/// Why a reset failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetError {
    /// The function has no reset method vsva can use.
    NoMethod,
    /// The function did not answer configuration requests within the bounded
    /// wait after the reset (it reads all-ones or returns Configuration
    /// Request Retry Status).
    NotReady {
        /// Milliseconds waited in all.
        waited_ms: u32,
    },
    /// After the reset, another function answers at the address (its Vendor
    /// or Device ID changed).
    Changed,
    /// The function did not return to D0 after a power-management reset.
    NotInD0,
}

/// Time a function has to complete an FLR before software may touch it
/// again: 100 ms (PCIe §6.6.2).
pub const FLR_WAIT_US: u32 = 100_000;
/// Recovery time of a D3hot ↔ D0 transition: 10 ms (PCI PM 1.2 §5.6.1,
/// Table 18).
pub const D3HOT_WAIT_US: u32 = 10_000;
/// How long Secondary Bus Reset is held: at least Trst, 1 ms (PCI Local Bus
/// 3.0 §4.3.2); 2 ms here.
pub const SBR_HOLD_US: u32 = 2_000;
/// Time after a conventional reset before configuration requests: 100 ms
/// (PCIe §6.6.1).
pub const SBR_WAIT_US: u32 = 100_000;
/// Interval between polls for a function to become ready again.
pub const READY_POLL_US: u32 = 10_000;
/// Polls for readiness after the spec's wait: 1 s more in all (PCIe §6.6.1
/// lets a function answer with Retry Status for up to 1 s after a reset).
pub const READY_POLLS: u32 = 100;
/// Polls for Transactions Pending to clear before an FLR, [`READY_POLL_US`]
/// apart. An FLR discards what is still pending, so vsva goes on after them.
pub const PENDING_POLLS: u32 = 10;
/// Vendor ID returned with Configuration Request Retry Status visibility
/// enabled while the function is not ready (PCIe §2.3.2).
const CRS_VENDOR_ID: u16 = 0x0001;

/// Device Capabilities bit 28: Function Level Reset Capability (PCIe §7.5.3.3).
const DEVICE_CAPABILITIES_FLR: u32 = 1 << 28;

/// Offsets and bits of the Advanced Features Capability.
mod af {
    /// AF Capabilities (8 bits).
    pub const CAPABILITIES: u16 = 0x03;
    /// AF Control (8 bits).
    pub const CONTROL: u16 = 0x04;
    /// AF Status (8 bits).
    pub const STATUS: u16 = 0x05;
    /// AF Capabilities: Transactions Pending capability.
    pub const TP_CAPABLE: u8 = 1 << 0;
    /// AF Capabilities: FLR capability.
    pub const FLR_CAPABLE: u8 = 1 << 1;
    /// AF Control: Initiate FLR.
    pub const INITIATE_FLR: u8 = 1 << 0;
    /// AF Status: Transactions Pending.
    pub const TRANSACTIONS_PENDING: u8 = 1 << 0;
}

/// Offsets and bits of the Power Management Capability (PCI PM 1.2 §3.2).
mod pm {
    /// Power Management Control/Status Register (16 bits), §3.2.4.
    pub const PMCSR: u16 = 0x04;
    /// PMCSR bits 1:0, PowerState.
    pub const POWER_STATE: u16 = 0b11;
    /// PowerState D3hot.
    pub const D3HOT: u16 = 0b11;
    /// PMCSR bit 3, No_Soft_Reset: set, D3hot → D0 keeps the function's state.
    pub const NO_SOFT_RESET: u16 = 1 << 3;
    /// PMCSR bit 15, PME_Status (RW1C): never written back as read.
    pub const PME_STATUS: u16 = 1 << 15;
}

/// Bridge Control bit 6: Secondary Bus Reset.
const SECONDARY_BUS_RESET: u16 = 1 << 6;
/// Bridge Control bit 10: Discard Timer Status (RW1C, never written back).
const DISCARD_TIMER_STATUS: u16 = 1 << 10;

/// The best reset method of `bdf`. `lone_bridge` is the bridge above it when
/// the function's device is the only one on that bridge's secondary bus
/// (the caller knows the topology); `None` rules out a bus reset.
pub fn method<A: ConfigAccess + ?Sized>(
    cfg: &A,
    bdf: Bdf,
    lone_bridge: Option<Bdf>,
) -> Option<ResetMethod> {
    if let Some(express) = PciExpress::find(cfg, bdf) {
        let caps = cfg.read32(bdf, express.offset + pcie::DEVICE_CAPABILITIES);
        if caps != u32::MAX && caps & DEVICE_CAPABILITIES_FLR != 0 {
            return Some(ResetMethod::Flr);
        }
    }
    if let Some(at) = find_capability(cfg, bdf, CapabilityId::AdvancedFeatures) {
        // Linux asks for both: without TP software cannot know the FLR is safe.
        let caps = cfg.read8(bdf, at + af::CAPABILITIES);
        let both = af::TP_CAPABLE | af::FLR_CAPABLE;
        if caps != u8::MAX && caps & both == both {
            return Some(ResetMethod::AdvancedFeaturesFlr);
        }
    }
    if let Some(at) = find_capability(cfg, bdf, CapabilityId::PowerManagement) {
        let pmcsr = cfg.read16(bdf, at + pm::PMCSR);
        if pmcsr != u16::MAX && pmcsr & pm::NO_SOFT_RESET == 0 {
            return Some(ResetMethod::PowerManagement);
        }
    }
    lone_bridge.map(|bridge| ResetMethod::SecondaryBus { bridge })
}

/// What a reset clears and vsva had programmed: the header's writable
/// registers and the PCI Express control registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedState {
    ids: u32,
    command: u16,
    bars: [u32; 6],
    rom: u32,
    interrupt_line: u8,
    /// Device Control and Device Control 2, with the capability's offset.
    express: Option<(u16, u16, u16)>,
    /// ACS Control: the function's isolation from its siblings, which its
    /// group was built on (a reset clears it).
    acs: Option<(Acs, crate::AcsFlags)>,
}

impl SavedState {
    /// Captures `bdf`'s state (a type-0 header).
    pub fn save<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Self {
        let mut bars = [0; 6];
        for (i, bar) in (0u16..).zip(bars.iter_mut()) {
            *bar = cfg.read32(bdf, offset::BAR0 + 4 * i);
        }
        // Phantom functions would issue requests under other functions'
        // IDs (PCIe §2.2.6.2): never on for an assigned function.
        let keep_off = DeviceControl::INITIATE_FLR | DeviceControl::PHANTOM_FUNCTIONS;
        let express = PciExpress::find(cfg, bdf).map(|e| {
            (
                e.offset,
                cfg.read16(bdf, e.offset + pcie::DEVICE_CONTROL) & !keep_off.bits(),
                cfg.read16(bdf, e.offset + pcie::DEVICE_CONTROL_2),
            )
        });
        Self {
            ids: cfg.read32(bdf, offset::VENDOR_ID),
            command: cfg.read16(bdf, offset::COMMAND),
            bars,
            rom: cfg.read32(bdf, offset::EXPANSION_ROM),
            interrupt_line: cfg.read8(bdf, offset::INTERRUPT_LINE),
            express,
            acs: Acs::find(cfg, bdf).map(|a| (a, a.control(cfg))),
        }
    }

    /// Writes the state back, with bus mastering and ROM decoding off: the
    /// next owner turns mastering on when it is ready for DMA.
    pub fn restore<A: ConfigAccess + ?Sized>(&self, cfg: &A, bdf: Bdf) {
        // Decoding stays off while the BARs are written (no half-moved BAR
        // decodes anything).
        let command = Command::from_bits_retain(self.command);
        let decode = Command::MEMORY_SPACE | Command::IO_SPACE;
        cfg.write16(
            bdf,
            offset::COMMAND,
            (command - decode - Command::BUS_MASTER).bits(),
        );
        for (i, &bar) in (0u16..).zip(self.bars.iter()) {
            cfg.write32(bdf, offset::BAR0 + 4 * i, bar);
        }
        cfg.write32(bdf, offset::EXPANSION_ROM, self.rom & !1);
        cfg.write8(bdf, offset::INTERRUPT_LINE, self.interrupt_line);
        if let Some((at, control, control2)) = self.express {
            cfg.write16(bdf, at + pcie::DEVICE_CONTROL, control);
            cfg.write16(bdf, at + pcie::DEVICE_CONTROL_2, control2);
        }
        if let Some((acs, control)) = self.acs {
            acs.set_control(cfg, control);
        }
        cfg.write16(bdf, offset::COMMAND, (command - Command::BUS_MASTER).bits());
    }
}

/// Resets `bdf` with `method`: bus mastering off, the reset, the bounded
/// waits, then the saved state back (bus mastering off). Fails with a typed
/// error when the function does not come back or is not the same function.
pub fn reset<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bdf: Bdf,
    method: ResetMethod,
) -> Result<(), ResetError> {
    let saved = SavedState::save(cfg, bdf);
    let command = Command::from_bits_retain(saved.command);
    cfg.write16(bdf, offset::COMMAND, (command - Command::BUS_MASTER).bits());
    let waited_us = match method {
        ResetMethod::Flr => flr(cfg, delay, bdf)?,
        ResetMethod::AdvancedFeaturesFlr => af_flr(cfg, delay, bdf)?,
        ResetMethod::PowerManagement => power_cycle(cfg, delay, bdf)?,
        ResetMethod::SecondaryBus { bridge } => secondary_bus(cfg, delay, bridge),
    };
    wait_ready(cfg, delay, bdf, waited_us)?;
    if cfg.read32(bdf, offset::VENDOR_ID) != saved.ids {
        return Err(ResetError::Changed);
    }
    saved.restore(cfg, bdf);
    Ok(())
}

/// Polls `pending` until it is false, at most [`PENDING_POLLS`] times.
fn drain<D: Delay + ?Sized>(delay: &mut D, mut pending: impl FnMut() -> bool) -> u32 {
    let mut waited = 0;
    for _ in 0..PENDING_POLLS {
        if !pending() {
            break;
        }
        delay.delay_us(READY_POLL_US);
        waited += READY_POLL_US;
    }
    waited
}

/// PCIe FLR (§6.6.2): wait for Transactions Pending, Initiate FLR, 100 ms.
fn flr<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bdf: Bdf,
) -> Result<u32, ResetError> {
    let express = PciExpress::find(cfg, bdf).ok_or(ResetError::NoMethod)?;
    let waited = drain(delay, || {
        let status = express.device_status(cfg);
        status.bits() != u16::MAX
            && status.contains(crate::express::DeviceStatus::TRANSACTIONS_PENDING)
    });
    let control = express.device_control(cfg) | DeviceControl::INITIATE_FLR;
    express.set_device_control(cfg, control);
    delay.delay_us(FLR_WAIT_US);
    Ok(waited + FLR_WAIT_US)
}

/// Advanced Features FLR: the same sequence through AF Control and Status.
fn af_flr<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bdf: Bdf,
) -> Result<u32, ResetError> {
    let at =
        find_capability(cfg, bdf, CapabilityId::AdvancedFeatures).ok_or(ResetError::NoMethod)?;
    let waited = drain(delay, || {
        let status = cfg.read8(bdf, at + af::STATUS);
        status != u8::MAX && status & af::TRANSACTIONS_PENDING != 0
    });
    cfg.write8(bdf, at + af::CONTROL, af::INITIATE_FLR);
    delay.delay_us(FLR_WAIT_US);
    Ok(waited + FLR_WAIT_US)
}

/// D0 → D3hot → D0, each transition given its 10 ms.
fn power_cycle<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bdf: Bdf,
) -> Result<u32, ResetError> {
    let at =
        find_capability(cfg, bdf, CapabilityId::PowerManagement).ok_or(ResetError::NoMethod)?;
    let pmcsr = cfg.read16(bdf, at + pm::PMCSR) & !pm::PME_STATUS;
    cfg.write16(bdf, at + pm::PMCSR, (pmcsr & !pm::POWER_STATE) | pm::D3HOT);
    delay.delay_us(D3HOT_WAIT_US);
    cfg.write16(bdf, at + pm::PMCSR, pmcsr & !pm::POWER_STATE);
    delay.delay_us(D3HOT_WAIT_US);
    wait_ready(cfg, delay, bdf, 2 * D3HOT_WAIT_US)?;
    if cfg.read16(bdf, at + pm::PMCSR) & pm::POWER_STATE != 0 {
        return Err(ResetError::NotInD0);
    }
    Ok(2 * D3HOT_WAIT_US)
}

/// Secondary Bus Reset: asserted for [`SBR_HOLD_US`]; where the bridge
/// reports Data Link Layer Link Active, its link trains again first (polled,
/// at most [`READY_POLLS`] times); then 100 ms (PCIe §6.6.1: after link
/// training on ports above 5 GT/s).
fn secondary_bus<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bridge: Bdf,
) -> u32 {
    let control =
        cfg.read16(bridge, offset::BRIDGE_CONTROL) & !(SECONDARY_BUS_RESET | DISCARD_TIMER_STATUS);
    cfg.write16(
        bridge,
        offset::BRIDGE_CONTROL,
        control | SECONDARY_BUS_RESET,
    );
    delay.delay_us(SBR_HOLD_US);
    cfg.write16(bridge, offset::BRIDGE_CONTROL, control);
    let mut waited = SBR_HOLD_US;
    if let Some(port) = PciExpress::find(cfg, bridge) {
        for _ in 0..READY_POLLS {
            if port.data_link_active(cfg) != Some(false) {
                break;
            }
            delay.delay_us(READY_POLL_US);
            waited += READY_POLL_US;
        }
    }
    delay.delay_us(SBR_WAIT_US);
    waited + SBR_WAIT_US
}

/// Polls until the function answers (neither all-ones nor Retry Status), at
/// most [`READY_POLLS`] times.
fn wait_ready<A: ConfigAccess + ?Sized, D: Delay + ?Sized>(
    cfg: &A,
    delay: &mut D,
    bdf: Bdf,
    mut waited_us: u32,
) -> Result<(), ResetError> {
    for _ in 0..=READY_POLLS {
        let vendor = cfg.read16(bdf, offset::VENDOR_ID);
        if vendor != ABSENT_VENDOR_ID && vendor != CRS_VENDOR_ID {
            return Ok(());
        }
        delay.delay_us(READY_POLL_US);
        waited_us = waited_us.saturating_add(READY_POLL_US);
    }
    Err(ResetError::NotReady {
        waited_ms: waited_us / 1000,
    })
}
