//! The caller's memory: bounds-checked reads and writes of its RAM by
//! guest-physical address, where the service finds argument structs and the
//! tables a shadow walks; and the size-prefixed struct protocol of the ABI
//! (`vsva_abi::sva`).

use vsva_abi::HvError;
use vsva_abi::sva::{MAX_STRUCT_SIZE, SvaStruct};

/// An access that is not wholly inside the partition's RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutsideRam {
    pub gpa: u64,
    pub len: u64,
}

/// A partition's RAM as the service may touch it. Implementations refuse
/// (and do nothing for) any range not wholly inside that RAM, wrapping
/// included: nothing outside the caller's own memory is ever reached.
pub trait GuestMemory {
    /// Copies guest-physical `[gpa, gpa + buf.len())` into `buf`.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam>;
    /// Copies `bytes` to guest-physical `gpa`.
    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam>;
}

/// No memory at all: every access is refused (for teardown paths that must
/// not read a guest).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoGuest;

impl GuestMemory for NoGuest {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam> {
        Err(OutsideRam {
            gpa,
            len: buf.len() as u64,
        })
    }

    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        Err(OutsideRam {
            gpa,
            len: bytes.len() as u64,
        })
    }
}

/// Where a partition's RAM is: guest-physical `[guest, guest + size)` is
/// host-physical `[host, host + size)` (one contiguous range, as vsva
/// allocates it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRam {
    pub guest: u64,
    pub host: u64,
    pub size: u64,
}

impl GuestRam {
    /// Whether all of guest-physical `[gpa, gpa + len)` is RAM (`len` 0: never).
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        len != 0
            && gpa
                .checked_sub(self.guest)
                .and_then(|offset| offset.checked_add(len))
                .is_some_and(|end| end <= self.size)
    }

    /// The host-physical address of guest-physical `[gpa, gpa + len)`.
    pub fn host_address(&self, gpa: u64, len: u64) -> Option<u64> {
        self.contains(gpa, len)
            .then(|| self.host + (gpa - self.guest))
    }

    /// The part of guest-physical `[gpa, gpa + len)` inside the RAM, as
    /// `(gpa, host, len)`: the piece a shadow may map.
    pub fn clip(&self, gpa: u64, len: u64) -> Option<(u64, u64, u64)> {
        let end = gpa
            .saturating_add(len)
            .min(self.guest.saturating_add(self.size));
        let start = gpa.max(self.guest);
        (start < end).then(|| (start, self.host + (start - self.guest), end - start))
    }

    /// The guest-physical end of the RAM.
    pub fn end(&self) -> u64 {
        self.guest + self.size
    }
}

/// A struct read from the caller: the decoded copy and the caller's size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Args<T> {
    /// Size 0: the caller asks how big the struct is.
    Probe,
    /// The struct, `size` being what the caller said (the value used, read
    /// once; the copy's own `size` field is not looked at).
    Struct { value: T, size: u32 },
}

/// Reads the argument struct at `gpa` under the ABI's rules: the size once,
/// then the struct once (the known part zero-extended for an older caller),
/// and a longer caller's unknown tail, which must be zero.
pub fn read_args<T: SvaStruct>(guest: &dyn GuestMemory, gpa: u64) -> Result<Args<T>, HvError> {
    let mut size = [0u8; 4];
    guest
        .read(gpa, &mut size)
        .map_err(|_| HvError::BadArgument)?;
    let size = u32::from_le_bytes(size);
    if size == 0 {
        return Ok(Args::Probe);
    }
    if (size as usize) < T::MIN_SIZE {
        return Err(HvError::BadArgument);
    }
    if size > MAX_STRUCT_SIZE {
        return Err(HvError::TooBig);
    }
    let mut bytes = [0u8; MAX_STRUCT_SIZE as usize];
    let bytes = &mut bytes[..(size as usize).max(T::SIZE)];
    guest
        .read(gpa, &mut bytes[..size as usize])
        .map_err(|_| HvError::BadArgument)?;
    if bytes[T::SIZE..].iter().any(|&b| b != 0) {
        return Err(HvError::TooBig);
    }
    Ok(Args::Struct {
        value: T::decode(&bytes[..T::SIZE]),
        size,
    })
}

/// Writes `value` back to the caller's struct at `gpa`, truncated to the
/// caller's `size`.
pub fn write_result<T: SvaStruct>(
    guest: &mut dyn GuestMemory,
    gpa: u64,
    size: u32,
    value: &T,
) -> Result<(), HvError> {
    let mut bytes = [0u8; MAX_STRUCT_SIZE as usize];
    value.encode(&mut bytes[..T::SIZE]);
    let n = (size as usize).min(T::SIZE);
    guest
        .write(gpa, &bytes[..n])
        .map_err(|_| HvError::BadArgument)
}

/// A partition's RAM in a flat host buffer, for tests: guest-physical
/// `base..base + bytes.len()`.
#[cfg(test)]
#[derive(Debug)]
pub struct FlatRam {
    pub base: u64,
    pub bytes: alloc::vec::Vec<u8>,
    /// Reads done, for double-fetch checks.
    pub reads: core::cell::Cell<usize>,
}

#[cfg(test)]
impl FlatRam {
    pub fn new(base: u64, size: usize) -> Self {
        Self {
            base,
            bytes: alloc::vec![0; size],
            reads: core::cell::Cell::new(0),
        }
    }

    fn range(&self, gpa: u64, len: usize) -> Result<core::ops::Range<usize>, OutsideRam> {
        let outside = OutsideRam {
            gpa,
            len: len as u64,
        };
        let start = gpa.checked_sub(self.base).ok_or(outside)? as usize;
        let end = start.checked_add(len).ok_or(outside)?;
        (end <= self.bytes.len())
            .then_some(start..end)
            .ok_or(outside)
    }
}

#[cfg(test)]
impl GuestMemory for FlatRam {
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), OutsideRam> {
        let r = self.range(gpa, buf.len())?;
        self.reads.set(self.reads.get() + 1);
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    fn write(&mut self, gpa: u64, bytes: &[u8]) -> Result<(), OutsideRam> {
        let r = self.range(gpa, bytes.len())?;
        self.bytes[r].copy_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use vsva_abi::sva::{Pasid, SvaInfo};

    use super::*;

    const BASE: u64 = 0x4000_0000;

    fn ram_with(at: u64, bytes: &[u8]) -> FlatRam {
        let mut ram = FlatRam::new(BASE, 0x2000);
        ram.write(at, bytes).unwrap();
        ram
    }

    #[test]
    fn ram_ranges_are_checked_without_wrapping() {
        let ram = GuestRam {
            guest: 0x4000_0000,
            host: 0x8000_0000,
            size: 0x10_0000,
        };
        assert_eq!(ram.host_address(0x4000_1000, 8), Some(0x8000_1000));
        assert!(ram.contains(0x400f_f000, 0x1000));
        assert!(!ram.contains(0x400f_f000, 0x1001), "crosses the end");
        assert!(!ram.contains(0x3fff_f000, 0x2000), "starts below");
        assert!(!ram.contains(u64::MAX - 4, 16), "wraps");
        assert!(!ram.contains(0x4000_0000, 0), "empty");
        assert_eq!(
            ram.clip(0x3fff_f000, 0x3000),
            Some((0x4000_0000, 0x8000_0000, 0x2000))
        );
        assert_eq!(ram.clip(0x5000_0000, 0x1000), None);
        assert_eq!(ram.clip(u64::MAX - 0xfff, 0x1000), None);
    }

    #[test]
    fn a_struct_is_read_once_and_its_size_rules_hold() {
        let mut bytes = [0u8; 16];
        Pasid {
            size: 16,
            flags: 0,
            pasid: 7,
            reserved: 0,
        }
        .encode(&mut bytes);
        let ram = ram_with(BASE + 0x100, &bytes);
        match read_args::<Pasid>(&ram, BASE + 0x100).unwrap() {
            Args::Struct { value, size } => assert_eq!((value.pasid, size), (7, 16)),
            Args::Probe => panic!("not a probe"),
        }
        // One read of the size, one of the struct.
        assert_eq!(ram.reads.get(), 2);
    }

    #[test]
    fn size_zero_is_a_probe_and_bad_sizes_are_refused() {
        let ram = ram_with(BASE, &[0; 16]);
        assert_eq!(read_args::<Pasid>(&ram, BASE), Ok(Args::Probe));
        let ram = ram_with(BASE, &8u32.to_le_bytes());
        assert_eq!(read_args::<Pasid>(&ram, BASE), Err(HvError::BadArgument));
        let ram = ram_with(BASE, &(MAX_STRUCT_SIZE + 1).to_le_bytes());
        assert_eq!(read_args::<Pasid>(&ram, BASE), Err(HvError::TooBig));
    }

    #[test]
    fn a_longer_struct_needs_a_zero_tail() {
        let mut bytes = [0u8; 24];
        bytes[..4].copy_from_slice(&24u32.to_le_bytes());
        bytes[8] = 3;
        let ram = ram_with(BASE, &bytes);
        assert!(matches!(
            read_args::<Pasid>(&ram, BASE),
            Ok(Args::Struct { size: 24, value }) if value.pasid == 3
        ));
        bytes[20] = 1;
        let ram = ram_with(BASE, &bytes);
        assert_eq!(read_args::<Pasid>(&ram, BASE), Err(HvError::TooBig));
    }

    #[test]
    fn a_struct_outside_or_crossing_the_end_of_ram_is_refused() {
        let mut ram = FlatRam::new(BASE, 0x1000);
        ram.write(BASE + 0xff8, &48u32.to_le_bytes()).unwrap();
        assert_eq!(
            read_args::<SvaInfo>(&ram, BASE + 0xff8),
            Err(HvError::BadArgument)
        );
        assert_eq!(
            read_args::<SvaInfo>(&ram, BASE - 0x1000),
            Err(HvError::BadArgument)
        );
        assert_eq!(
            read_args::<SvaInfo>(&ram, u64::MAX - 1),
            Err(HvError::BadArgument)
        );
    }

    #[test]
    fn results_are_truncated_to_the_callers_size() {
        let mut ram = FlatRam::new(BASE, 0x1000);
        let info = SvaInfo {
            size: 48,
            caps: u64::MAX,
            max_invalidations: 0xdead_beef,
            ..Default::default()
        };
        write_result(&mut ram, BASE, 24, &info).unwrap();
        assert_eq!(&ram.bytes[16..24], &u64::MAX.to_le_bytes());
        assert!(ram.bytes[24..48].iter().all(|&b| b == 0));
    }
}
