//! The PASID namespace: one for every partition and every IOMMU unit (VT-d
//! PASIDs are global: a shared work queue fed by ENQCMD, or a Scalable IOV
//! device, uses one PASID whatever the device, VT-d spec §3.4.2), allocated
//! lowest first from 1 (PASID 0 is no PASID's: VT-d's RID_PASID, SMMUv3's
//! SSID 0 under S1DSS), each owner held to a quota.

use alloc::collections::BTreeMap;

use crate::PartitionId;

/// The widest PASID the PCIe PASID TLP prefix carries (PCIe §6.20).
pub const PASID_BITS: u8 = 20;

/// Why an allocation or a free was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasidError {
    /// The owner's quota is used up (or zero).
    Quota,
    /// Every PASID of the namespace is taken.
    Exhausted,
    /// The PASID is not the owner's (free, or someone else's).
    NotHeld,
}

/// The namespace and who holds what.
#[derive(Debug)]
pub struct PasidSpace {
    /// PASIDs are below 2^bits.
    bits: u8,
    held: BTreeMap<u32, PartitionId>,
    quotas: BTreeMap<PartitionId, (u32, u32)>,
}

impl PasidSpace {
    /// A namespace of PASIDs `1..2^bits` (`bits` at most [`PASID_BITS`]).
    pub fn new(bits: u8) -> Self {
        Self {
            bits: bits.min(PASID_BITS),
            held: BTreeMap::new(),
            quotas: BTreeMap::new(),
        }
    }

    /// The namespace's width.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// Lets `owner` hold up to `quota` PASIDs (0: none).
    pub fn set_quota(&mut self, owner: PartitionId, quota: u32) {
        let used = self.quotas.get(&owner).map_or(0, |&(_, used)| used);
        self.quotas.insert(owner, (quota, used));
    }

    /// The lowest free PASID, now `owner`'s.
    pub fn alloc(&mut self, owner: PartitionId) -> Result<u32, PasidError> {
        let (quota, used) = self.quotas.get(&owner).copied().unwrap_or((0, 0));
        if used >= quota {
            return Err(PasidError::Quota);
        }
        // The held set is sorted: the first gap above 0 is the lowest free.
        let mut candidate = 1u32;
        for &pasid in self.held.keys() {
            if pasid != candidate {
                break;
            }
            candidate += 1;
        }
        if u64::from(candidate) >= 1u64 << self.bits {
            return Err(PasidError::Exhausted);
        }
        self.held.insert(candidate, owner);
        self.quotas.insert(owner, (quota, used + 1));
        Ok(candidate)
    }

    /// Whether `owner` holds `pasid`.
    pub fn holds(&self, owner: PartitionId, pasid: u32) -> bool {
        self.held.get(&pasid) == Some(&owner)
    }

    /// Gives `pasid` back (only its owner may).
    pub fn free(&mut self, owner: PartitionId, pasid: u32) -> Result<(), PasidError> {
        if !self.holds(owner, pasid) {
            return Err(PasidError::NotHeld);
        }
        self.held.remove(&pasid);
        if let Some((_, used)) = self.quotas.get_mut(&owner) {
            *used -= 1;
        }
        Ok(())
    }

    /// The PASIDs `owner` holds, lowest first.
    pub fn held_by(&self, owner: PartitionId) -> impl Iterator<Item = u32> + '_ {
        self.held
            .iter()
            .filter(move |&(_, &o)| o == owner)
            .map(|(&p, _)| p)
    }

    /// Frees everything `owner` holds and forgets its quota; how many.
    pub fn release_all(&mut self, owner: PartitionId) -> usize {
        let before = self.held.len();
        self.held.retain(|_, o| *o != owner);
        self.quotas.remove(&owner);
        before - self.held.len()
    }

    /// PASIDs held by anyone.
    pub fn in_use(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;

    const A: PartitionId = PartitionId(1);
    const B: PartitionId = PartitionId(2);

    #[test]
    fn pasids_come_lowest_first_from_one_within_each_quota() {
        let mut s = PasidSpace::new(20);
        s.set_quota(A, 2);
        s.set_quota(B, 1);
        assert_eq!(s.alloc(A), Ok(1));
        assert_eq!(s.alloc(B), Ok(2));
        assert_eq!(s.alloc(A), Ok(3));
        assert_eq!(s.alloc(A), Err(PasidError::Quota));
        assert_eq!(s.alloc(B), Err(PasidError::Quota));
        assert_eq!(s.alloc(PartitionId(9)), Err(PasidError::Quota), "no quota");
    }

    #[test]
    fn only_the_owner_frees_and_a_freed_pasid_is_reused() {
        let mut s = PasidSpace::new(20);
        s.set_quota(A, 4);
        s.set_quota(B, 4);
        let a = s.alloc(A).unwrap();
        let b = s.alloc(B).unwrap();
        assert_eq!(s.free(B, a), Err(PasidError::NotHeld));
        assert_eq!(s.free(A, 77), Err(PasidError::NotHeld));
        assert_eq!(s.free(A, a), Ok(()));
        assert_eq!(s.free(A, a), Err(PasidError::NotHeld), "twice");
        assert_eq!(s.alloc(B), Ok(a), "the lowest free again");
        assert!(s.holds(B, b) && s.holds(B, a) && !s.holds(A, a));
    }

    #[test]
    fn the_namespace_runs_out_and_release_all_returns_everything() {
        let mut s = PasidSpace::new(3);
        s.set_quota(A, 100);
        let got: Vec<u32> = core::iter::from_fn(|| s.alloc(A).ok()).collect();
        assert_eq!(got, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(s.alloc(A), Err(PasidError::Exhausted));
        assert_eq!(s.release_all(A), 7);
        assert_eq!(s.in_use(), 0);
        assert_eq!(s.alloc(A), Err(PasidError::Quota), "quota forgotten");
    }
}
