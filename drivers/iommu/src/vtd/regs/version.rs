//! VER_REG (§11.4.1).

use core::fmt;

use super::field;

/// Version Register: the architecture version the unit implements (§11.4.1).
///
/// Displays as `major.minor`, e.g. `1.0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version(u32);

impl Version {
    /// Wraps a value read from VER_REG.
    pub const fn new(raw: u32) -> Self {
        Self(raw)
    }

    /// The register value as read.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// MAX, bits 7:4: major version number (§11.4.1).
    pub const fn major(self) -> u8 {
        field(self.0 as u64, 4, 4) as u8
    }

    /// MIN, bits 3:0: minor version number (§11.4.1).
    pub const fn minor(self) -> u8 {
        field(self.0 as u64, 0, 4) as u8
    }
}

impl From<u32> for Version {
    fn from(raw: u32) -> Self {
        Self(raw)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major(), self.minor())
    }
}
