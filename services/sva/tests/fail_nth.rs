//! Allocation failures, in the manner of iommufd's fail_nth: for every
//! call that allocates (binds nested, shadowed and on the SMMU, a shadow's
//! re-sync, assigning a device; CD-table binds, ring registration and the
//! teardown, which allocate nothing), the n-th allocation from the call's
//! start fails, for n = 1, 2, ... until the call completes without reaching
//! it. Each failure must be an error (never a panic), leave nothing
//! half-built (the call made again without failures works: the DMA it
//! enables lands) and leak nothing (pages, PASIDs, bindings, shadow budget
//! and the backends' IDs as before).

mod common;

use common::calls::{alloc, bind, call, cd_args, entry, invalidate};
use common::events::queue_args;
use common::smmu::{Part, Rig as SmmuRig, guest_cd};
use common::vtd::{A, B, B_BASE, DEV_A, DEV_B, NESTED, RID_A, RID_B, Rig, SHADOW};
use common::{GUEST_BASE, Guest, Layout, VmsaTable, X86Table, device, pasids, x86};
use vsva_abi::sva::{InvalidateKind, QueueOp};
use vsva_abi::{Call, HvError};
use vsva_iommu::hw::sim::SimMemory;
use vsva_iommu::smmuv3::model::SmmuConfig;
use vsva_iommu::smmuv3::unit::StreamTableFormat;
use vsva_iommu::vtd::model;
use vsva_iommu::vtd::unit::Mode;
use vsva_sva::Sva;
use vsva_sva::backend::Backend;
use vsva_sva::guest::GuestMemory;
use vsva_sva::sim::{KERNEL, smmu, vtd};

/// Where the guests map their data page.
const GVA: u64 = 0x7_4000_0000;
/// A region the re-sync cases map only after the bind.
const FRESH: u64 = 0x9_8000_0000;
/// QEMU's first-stage unit with 20-bit PASIDs.
const SHADOW_PASIDS: (u64, u64) = (model::QEMU_CAP_FLTS, model::QEMU_ECAP_FLTS | 19 << 35);
/// QEMU's scalable unit without first-stage translation: second-stage
/// shadows and copies.
const SECOND_STAGE: (u64, u64) = (model::QEMU_CAP, model::QEMU_ECAP_SCALABLE_PASID);
const LEGACY: (u64, u64) = (model::QEMU_CAP, model::QEMU_ECAP_LEGACY);
/// The SMMU partition's device.
const SID: u32 = 0x10;
const DEVICE: u32 = 0x10;

/// What an attempt must leave as it found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// Pages the service and the units hold (the kernel's own, RAM and
    /// stage-2 tables, apart).
    pages: usize,
    pasids: usize,
    bindings: usize,
    shadow_left: Option<usize>,
    /// The backend's IDs: SMMU ASIDs, VT-d bindings kept as quarantined.
    ids: usize,
}

/// A service whose backends count IDs.
trait Ids {
    fn ids(&self) -> usize;
}

impl Ids for vtd::Service<'_> {
    fn ids(&self) -> usize {
        self.units().map(|(_, u)| u.quarantined()).sum()
    }
}

impl Ids for smmu::Service<'_> {
    fn ids(&self) -> usize {
        self.units().map(|(_, u)| u.asids_in_use()).sum()
    }
}

fn held<U: Backend>(mem: &SimMemory, sva: &Sva<U>) -> Held
where
    Sva<U>: Ids,
{
    Held {
        pages: mem.allocated_pages() - mem.allocated_pages_of(KERNEL),
        pasids: sva.pasids_in_use(),
        bindings: sva.bindings_of(A),
        shadow_left: sva.shadow_pages_left(A),
        ids: sva.ids(),
    }
}

/// One attempt with the n-th allocation failing.
#[derive(Debug)]
struct Attempt {
    /// The n-th allocation was reached.
    reached: bool,
    /// The call returned an error.
    failed: bool,
    before: Held,
    after: Held,
    /// After a failure: the call made again without one succeeded and did
    /// what it does (the DMA it enables landed).
    repeated: bool,
}

/// `f` on `sva` with the `n`-th allocation of `mem` from its start
/// failing, measured before and after.
fn attempt<U: Backend, T, E>(
    mem: &SimMemory,
    sva: &mut Sva<U>,
    n: usize,
    f: impl FnOnce(&mut Sva<U>) -> Result<T, E>,
) -> Attempt
where
    Sva<U>: Ids,
{
    let before = held(mem, sva);
    let start = mem.allocation_calls();
    mem.fail_allocation_after(Some(n));
    let r = f(sva);
    mem.fail_allocation_after(None);
    Attempt {
        reached: mem.allocation_calls() >= start + n,
        failed: r.is_err(),
        before,
        after: held(mem, sva),
        repeated: false,
    }
}

/// `attempt(n)` for n = 1, 2, ... until the call no longer reaches its
/// n-th allocation; every failure checked. The allocations the call makes.
fn sweep(name: &str, attempt: impl Fn(usize) -> Attempt) -> usize {
    for n in 1..=64 {
        let a = attempt(n);
        if !a.reached {
            assert!(!a.failed, "{name}: fails with no allocation failing: {a:?}");
            return n - 1;
        }
        assert!(
            a.failed,
            "{name}: allocation {n} failed, the call succeeded"
        );
        assert_eq!(a.after, a.before, "{name}: allocation {n} failed: held");
        assert!(a.repeated, "{name}: allocation {n} failed: the call again");
    }
    panic!("{name}: more than 64 allocations");
}

/// B with a device (so the bus's context table exists before any
/// attempt), and A, with its device when `assigned`.
fn vtd_partitions(rig: &Rig, mode: Mode, assigned: bool) -> (vtd::Service<'_>, Guest) {
    let mut sva = rig.service_in(mode);
    let b = Layout::new(B, B_BASE, 16);
    rig.partition(&mut sva, b, Some(device(RID_B, DEV_B, pasids(20))));
    let at = Layout {
        quota: 80,
        ..Layout::new(A, GUEST_BASE, 64)
    };
    let dev = assigned.then(|| device(RID_A, DEV_A, pasids(20)));
    let a = rig.partition(&mut sva, at, dev);
    (sva, a)
}

/// An x86 table of A's mapping GVA, and the page it maps.
fn x86_table(a: &mut Guest) -> (X86Table, u64) {
    let table = X86Table::new(a);
    let data = a.page();
    table.map(a, GVA, data, x86::TABLE);
    (table, data)
}

/// A one-byte DMA write by A's device: whether it landed in `data`.
fn vtd_lands(rig: &Rig, a: &Guest, pasid: Option<u32>, iova: u64, data: u64) -> bool {
    let ok = rig
        .model
        .dma_write(RID_A as u16, pasid, iova, &[0x5a])
        .is_ok();
    ok && a.ram.byte(data) == 0x5a
}

/// BindStage1 on a VT-d unit in `mode`: without a PASID, or with the
/// PASID after `skip` others (64 and more: in a PASID table of its own).
fn vtd_bind(caps: (u64, u64), mode: Mode, skip: Option<u32>) -> impl Fn(usize) -> Attempt {
    move |n| {
        let rig = Rig::new(caps);
        let (mut sva, mut a) = vtd_partitions(&rig, mode, true);
        let (table, data) = x86_table(&mut a);
        let pasid = skip.map(|skip| {
            for _ in 0..skip {
                alloc(&mut sva, &mut a).unwrap();
            }
            alloc(&mut sva, &mut a).unwrap()
        });
        let root = table.root;
        let mut at = attempt(&rig.mem, &mut sva, n, |sva| {
            bind(sva, &mut a, DEV_A, pasid, root)
        });
        at.repeated = !vtd_lands(&rig, &a, pasid, GVA, data)
            && bind(&mut sva, &mut a, DEV_A, pasid, root) == Ok(0)
            && vtd_lands(&rig, &a, pasid, GVA, data);
        at
    }
}

#[test]
fn vtd_binds_survive_every_allocation_failure() {
    let cases = [
        ("nested bind", NESTED, Mode::Scalable, Some(0)),
        (
            "nested bind, new PASID table",
            NESTED,
            Mode::Scalable,
            Some(64),
        ),
        ("nested bind, no PASID", NESTED, Mode::Scalable, None),
        ("first-stage shadow", SHADOW_PASIDS, Mode::Scalable, Some(0)),
        (
            "first-stage shadow, new PASID table",
            SHADOW_PASIDS,
            Mode::Scalable,
            Some(64),
        ),
        ("first-stage shadow, no PASID", SHADOW, Mode::Scalable, None),
        ("second-stage shadow", SECOND_STAGE, Mode::Scalable, Some(0)),
        ("legacy shadow", LEGACY, Mode::Legacy, None),
    ];
    for (name, caps, mode, skip) in cases {
        let n = sweep(name, vtd_bind(caps, mode, skip));
        assert!(n > 0, "{name}: the shadow's or the copy's tables");
    }
}

/// A shadow bound, then pages mapped in a region it has no tables for,
/// then the Invalidate that re-syncs them (that range, or the whole
/// table).
fn resync(caps: (u64, u64), all: bool) -> impl Fn(usize) -> Attempt {
    move |n| {
        let rig = Rig::new(caps);
        let (mut sva, mut a) = vtd_partitions(&rig, Mode::Scalable, true);
        let (table, data) = x86_table(&mut a);
        assert_eq!(bind(&mut sva, &mut a, DEV_A, None, table.root), Ok(0));
        let fresh = [0, 1, 2].map(|i| FRESH + i * 0x20_0000);
        for gva in fresh {
            table.map(&mut a, gva, data, x86::TABLE);
        }
        let e = if all {
            entry(InvalidateKind::IotlbAll, DEV_A, None, 0, 0)
        } else {
            entry(InvalidateKind::IotlbRange, DEV_A, None, FRESH, 0x60_0000)
        };
        let mut at = attempt(&rig.mem, &mut sva, n, |sva| invalidate(sva, &mut a, &[e]).0);
        let lands = |a: &Guest, gva| vtd_lands(&rig, a, None, gva, data);
        let mut blocked = fresh.iter().all(|&gva| !lands(&a, gva));
        if all {
            // A rebuild that stops leaves part of the table unmapped and
            // part re-synced: whatever pages it holds then are exactly what
            // the budget was charged.
            let left = |h: Held| h.shadow_left.unwrap_or(0);
            assert_eq!(
                at.after.pages + left(at.after),
                at.before.pages + left(at.before)
            );
            at.after.pages = at.before.pages;
            at.after.shadow_left = at.before.shadow_left;
            blocked = true;
        }
        at.repeated = blocked
            && invalidate(&mut sva, &mut a, &[e]).0 == Ok(1)
            && fresh.iter().all(|&gva| lands(&a, gva))
            && lands(&a, GVA);
        at
    }
}

#[test]
fn shadow_resyncs_survive_every_allocation_failure() {
    for (name, caps) in [("first stage", SHADOW), ("second stage", SECOND_STAGE)] {
        assert!(sweep(&format!("{name}, range"), resync(caps, false)) > 0);
        assert!(sweep(&format!("{name}, all"), resync(caps, true)) > 0);
    }
}

/// Assigning a device to a partition (added already: that allocates
/// nothing) on a VT-d unit in `mode`.
fn vtd_assign(caps: (u64, u64), mode: Mode) -> impl Fn(usize) -> Attempt {
    move |n| {
        let rig = Rig::new(caps);
        let (mut sva, mut a) = vtd_partitions(&rig, mode, false);
        let data = a.page();
        let dev = device(RID_A, DEV_A, pasids(20));
        let mut at = attempt(&rig.mem, &mut sva, n, |sva| sva.assign(A, dev));
        at.repeated = !vtd_lands(&rig, &a, None, data, data)
            && sva.assign(A, dev).is_ok()
            && vtd_lands(&rig, &a, None, data, data);
        at
    }
}

#[test]
fn assigning_a_device_survives_every_allocation_failure() {
    let cases = [
        ("nested unit", NESTED, Mode::Scalable),
        ("QEMU first stage", SHADOW, Mode::Scalable),
        ("QEMU second stage", SECOND_STAGE, Mode::Scalable),
        ("QEMU legacy", LEGACY, Mode::Legacy),
    ];
    for (name, caps, mode) in cases {
        assert!(sweep(name, vtd_assign(caps, mode)) > 0, "{name}");
    }
    assert!(sweep("SMMU, 2-level stream table", smmu_assign) > 0);
}

/// The SMMU rig's service, with a 2-level stream table when `two_level`.
fn smmu_service(rig: &SmmuRig, two_level: bool) -> smmu::Service<'_> {
    let format = if two_level {
        StreamTableFormat::TwoLevel {
            sid_bits: 16,
            split: 8,
        }
    } else {
        StreamTableFormat::Linear { sid_bits: 16 }
    };
    let unit = smmu::backend(&rig.model, &rig.mem, &rig.clock, format);
    Sva::new(vec![Some(unit)], 20)
}

/// A one-byte DMA write by the SMMU partition's device: whether it landed
/// in `data`.
fn smmu_lands(rig: &SmmuRig, a: &Part, pasid: Option<u32>, va: u64, data: u64) -> bool {
    let ok = rig.model.dma_write(SID, pasid, va, &[0x5a]).is_ok();
    ok && a.g.ram.byte(data) == 0x5a
}

/// Assigning a device whose StreamIDs have no level-2 stream table yet (A
/// has one elsewhere already).
fn smmu_assign(n: usize) -> Attempt {
    let rig = SmmuRig::new(SmmuConfig::full());
    let mut sva = smmu_service(&rig, true);
    let at = Layout::new(A, GUEST_BASE, 16);
    let mut a = rig.partition(&mut sva, at, device(0x300, 0x08, pasids(0)));
    let data = a.g.page();
    let dev = device(SID, DEVICE, pasids(20));
    let mut at = attempt(&rig.mem, &mut sva, n, |sva| sva.assign(A, dev));
    at.repeated = !smmu_lands(&rig, &a, None, data, data)
        && sva.assign(A, dev).is_ok()
        && smmu_lands(&rig, &a, None, data, data);
    at
}

/// The SMMU partition A: its device with 20-bit PASIDs, a VMSAv8 table
/// mapping GVA, the page it maps.
fn smmu_partition(rig: &SmmuRig, two_level: bool) -> (smmu::Service<'_>, Part, VmsaTable, u64) {
    let mut sva = smmu_service(rig, two_level);
    let at = Layout {
        quota: 80,
        ..Layout::new(A, GUEST_BASE, 64)
    };
    let mut a = rig.partition(&mut sva, at, device(SID, DEVICE, pasids(20)));
    let table = VmsaTable::new(&mut a.g);
    let data = a.g.page();
    table.map(&mut a.g, GVA, data, 0);
    (sva, a, table, data)
}

/// Pages the service placed in A's table window: they stay until the
/// device goes (the window maps them for good), so they are no leak.
fn placed(a: &Part) -> usize {
    a.s2.placed
        .iter()
        .map(|&(_, _, len)| (len / 4096) as usize)
        .sum()
}

/// BindStage1 on the SMMU: the device's first bind (its CD table made and
/// placed), or one on a PASID `skip` PASIDs later (a new leaf table of the
/// 2-level CD table).
fn smmu_bind(skip: u32) -> impl Fn(usize) -> Attempt {
    move |n| {
        let rig = SmmuRig::new(SmmuConfig::full());
        let (mut sva, mut a, table, data) = smmu_partition(&rig, false);
        if skip > 0 {
            let first = alloc(&mut sva, &mut a).unwrap();
            assert_eq!(
                bind(&mut sva, &mut a, DEVICE, Some(first), table.root),
                Ok(0)
            );
            for _ in 1..skip {
                alloc(&mut sva, &mut a).unwrap();
            }
        }
        let pasid = Some(alloc(&mut sva, &mut a).unwrap());
        let placed_before = placed(&a);
        let mut at = attempt(&rig.mem, &mut sva, n, |sva| {
            bind(sva, &mut a, DEVICE, pasid, table.root)
        });
        at.before.pages -= placed_before;
        at.after.pages -= placed(&a);
        at.repeated = !smmu_lands(&rig, &a, pasid, GVA, data)
            && bind(&mut sva, &mut a, DEVICE, pasid, table.root) == Ok(0)
            && smmu_lands(&rig, &a, pasid, GVA, data);
        at
    }
}

#[test]
fn smmu_binds_survive_every_allocation_failure() {
    assert!(
        sweep("first bind", smmu_bind(0)) > 0,
        "the CD table, its window"
    );
    assert!(
        sweep("bind in a new CD leaf", smmu_bind(64)) > 0,
        "a leaf table"
    );
}

/// Calls that allocate nothing: the sweep ends at once, and they work.
#[test]
fn cd_table_binds_and_ring_registration_allocate_nothing() {
    let bind_cd = |n| {
        let rig = SmmuRig::new(SmmuConfig::full());
        let (mut sva, mut a, table, data) = smmu_partition(&rig, true);
        let cds = a.g.page();
        a.g.ram.write(cds, &guest_cd(table.root, 7)).unwrap();
        let args = cd_args(DEVICE, cds, 0, 0);
        let at = attempt(&rig.mem, &mut sva, n, |sva| {
            call(sva, &mut a, Call::BindCdTable, &args)
        });
        assert!(at.failed || smmu_lands(&rig, &a, None, GVA, data));
        at
    };
    assert_eq!(sweep("BindCdTable", bind_cd), 0);
    let register = |n| {
        let rig = Rig::new(NESTED);
        let (mut sva, mut a) = vtd_partitions(&rig, Mode::Scalable, true);
        let ring = a.page();
        let args = queue_args(QueueOp::Register, ring, 8);
        let at = attempt(&rig.mem, &mut sva, n, |sva| {
            call(sva, &mut a, Call::EventQueue, &args)
        });
        assert!(at.failed || sva.event_ring(A) == Some((ring, 8)));
        at
    };
    assert_eq!(sweep("EventQueue register", register), 0);
}

/// Removes A with the n-th allocation failing: everything back to `empty`
/// (what the service held with A there and no device of A assigned).
fn remove<U: Backend>(mem: &SimMemory, sva: &mut Sva<U>, n: usize, empty: Held) -> Attempt
where
    Sva<U>: Ids,
{
    let mut at = attempt(mem, sva, n, |sva| sva.remove_partition(A));
    at.before = Held {
        shadow_left: None,
        ..empty
    };
    at
}

/// Removing partitions with bindings of every kind: no allocation at all,
/// everything the service and the units took for them given back.
#[test]
fn teardown_allocates_nothing_and_frees_everything() {
    for caps in [NESTED, SHADOW_PASIDS] {
        let teardown = |n| {
            let rig = Rig::new(caps);
            let (mut sva, mut a) = vtd_partitions(&rig, Mode::Scalable, false);
            let empty = held(&rig.mem, &sva);
            sva.assign(A, device(RID_A, DEV_A, pasids(20))).unwrap();
            let (table, data) = x86_table(&mut a);
            let pasid = alloc(&mut sva, &mut a).unwrap();
            for p in [Some(pasid), None] {
                assert_eq!(bind(&mut sva, &mut a, DEV_A, p, table.root), Ok(0));
            }
            let at = remove(&rig.mem, &mut sva, n, empty);
            assert!(!vtd_lands(&rig, &a, None, GVA, data));
            at
        };
        assert_eq!(sweep("VT-d teardown", teardown), 0, "{caps:x?}");
    }
    let teardown = |n| {
        let rig = SmmuRig::new(SmmuConfig::full());
        let mut sva = smmu_service(&rig, false);
        let mut a = rig.partition(
            &mut sva,
            Layout::new(A, GUEST_BASE, 64),
            device(0x300, 0x08, pasids(0)),
        );
        let empty = held(&rig.mem, &sva);
        sva.assign(A, device(SID, DEVICE, pasids(20))).unwrap();
        let table = VmsaTable::new(&mut a.g);
        let data = a.g.page();
        table.map(&mut a.g, GVA, data, 0);
        let pasid = alloc(&mut sva, &mut a).unwrap();
        for p in [Some(pasid), None] {
            assert_eq!(bind(&mut sva, &mut a, DEVICE, p, table.root), Ok(0));
        }
        let at = remove(&rig.mem, &mut sva, n, empty);
        assert!(!smmu_lands(&rig, &a, None, GVA, data));
        at
    };
    assert_eq!(sweep("SMMU teardown", teardown), 0);
}

/// The sweep's own check: a call that does not clean up is caught.
#[test]
fn the_sweep_catches_a_leak() {
    let leaky = |n| {
        let rig = Rig::new(NESTED);
        let (mut sva, _a) = vtd_partitions(&rig, Mode::Scalable, true);
        let mem = std::rc::Rc::clone(&rig.mem);
        attempt(&rig.mem, &mut sva, n, |_| {
            use vsva_iommu::hw::DmaMemory;
            mem.alloc_pages(1).ok_or(HvError::NoResources)?;
            mem.alloc_pages(1).ok_or(HvError::NoResources).map(|_| ())
        })
    };
    let caught = std::panic::catch_unwind(|| sweep("leaky", leaky));
    assert!(
        caught.is_err(),
        "a page kept after the second allocation failed"
    );
}
