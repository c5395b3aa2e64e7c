//! The model's wired interrupt outputs (§3.18: `eventq`, `priq`, `cmdq-sync`,
//! `gerror`), as counters a driver can wait on through [`InterruptLine`].

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::hw::InterruptLine;

/// One of the SMMU's wired interrupt sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WiredLine {
    EventQueue,
    PriQueue,
    CmdSync,
    Gerror,
}

/// A wired interrupt output: how many times the model pulsed it. Shared
/// (`Arc`) so that a driver can hold it while the model raises it.
#[derive(Clone, Debug, Default)]
pub struct ModelLine(Arc<AtomicU64>);

impl ModelLine {
    pub(super) fn pulse(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl InterruptLine for ModelLine {
    fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The four outputs.
#[derive(Clone, Debug, Default)]
pub(super) struct Lines {
    pub eventq: ModelLine,
    pub priq: ModelLine,
    pub cmd_sync: ModelLine,
    pub gerror: ModelLine,
}

impl Lines {
    pub fn get(&self, line: WiredLine) -> ModelLine {
        match line {
            WiredLine::EventQueue => self.eventq.clone(),
            WiredLine::PriQueue => self.priq.clone(),
            WiredLine::CmdSync => self.cmd_sync.clone(),
            WiredLine::Gerror => self.gerror.clone(),
        }
    }
}
