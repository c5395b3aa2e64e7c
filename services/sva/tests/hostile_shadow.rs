//! Hostile guest tables and invalidation batches on the VT-d shadow path
//! (QEMU's `x-flts=on` unit, which cannot nest): tables that point at
//! themselves, at MMIO or at another partition's RAM; batches refused whole
//! or at entry k after entries 0..k took effect, observed by DMA. Nothing
//! may leak: table pages and the shadow budget come back with the unbind.

mod common;

use common::calls::{alloc, batch, batch_args, bind, entries_at, entry, invalidate, unbind};
use common::vtd::{A, B_BASE, DEV_A, DEV_B, RID_A, Rig, SHADOW, Service};
use common::{GUEST_BASE, Guest, Layout, X86Table, device, pasids, x86};
use vsva_abi::HvError;
use vsva_abi::sva::{EntryFlags, Invalidate, InvalidateEntry, InvalidateKind, SvaStruct};
use vsva_sva::guest::GuestMemory;

fn range(pasid: Option<u32>, address: u64) -> InvalidateEntry {
    entry(InvalidateKind::IotlbRange, DEV_A, pasid, address, 0x1000)
}

fn all(pasid: Option<u32>) -> InvalidateEntry {
    entry(InvalidateKind::IotlbAll, DEV_A, pasid, 0, 0)
}

/// Points all 512 entries of the table at `root` at `root` itself.
fn loop_table(g: &mut Guest, root: u64) {
    for i in 0..512 {
        g.ram.write_u64(root + 8 * i, root | x86::TABLE);
    }
}

/// A PML4 whose 512 entries all point at itself: the bind stops at the
/// budget (256 pages) or at the walk limit (a budget of 2^14): NoResources,
/// nothing bound or allocated, the budget whole again, the plain attachment
/// still serving requests without PASID. With one self-pointing entry the
/// walk is short: GVA 0 maps the PML4 page itself; unbind frees it all.
#[test]
fn a_pml4_pointing_at_itself_is_bounded_and_leaks_nothing() {
    for budget in [256, 1 << 14] {
        let rig = Rig::new(SHADOW);
        let mut sva = rig.service();
        let a = Layout {
            budget,
            ..Layout::new(A, GUEST_BASE, 64)
        };
        let mut a = rig.partition(&mut sva, a, Some(device(RID_A, DEV_A, pasids(20))));
        let (data, root) = (a.page(), a.page());
        loop_table(&mut a, root);
        let pasid = alloc(&mut sva, &mut a).unwrap();
        let pages = rig.mem.allocated_pages();
        for p in [Some(pasid), None] {
            let r = bind(&mut sva, &mut a, DEV_A, p, root);
            assert_eq!(r, Err(HvError::NoResources), "{budget} {p:?}");
            assert_eq!(sva.bindings_of(A), 0);
            assert_eq!(rig.mem.allocated_pages(), pages, "{budget} {p:?}");
            assert_eq!(sva.shadow_pages_left(A), Some(budget));
        }
        assert!(!rig.dma(Some(pasid), 0, 1));
        assert!(rig.dma(None, data, 2), "the plain attachment is intact");
        assert_eq!(a.ram.byte(data), 2);

        a.ram.write(root, &[0; 4096]).unwrap();
        a.ram.write_u64(root, root | x86::TABLE);
        assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(pasid), root), Ok(0));
        assert!(rig.dma(Some(pasid), 0x18, 0x77));
        assert_eq!(a.ram.byte(root + 0x18), 0x77, "GVA 0 is the PML4 page");
        assert!(!rig.dma(Some(pasid), 0x1000, 1));
        assert_eq!(unbind(&mut sva, &mut a, DEV_A, Some(pasid)), Ok(0));
        assert_eq!(rig.mem.allocated_pages(), pages);
        assert_eq!(sva.shadow_pages_left(A), Some(budget));
        sva.remove_partition(A).unwrap();
        assert_eq!(sva.pasids_in_use(), 0);
    }
}

/// A bound table made hostile afterwards (every PML4 entry pointing at the
/// PML4): its invalidation fails with NoResources, the range is left
/// unmapped (DMA faults there) with only the shadow's root kept; in a batch
/// with another binding's entries, those before it took effect (count 1),
/// those after not. Fixing the table and invalidating restores it; unbind
/// gives every page and the whole budget back.
#[test]
fn a_table_turned_hostile_fails_its_invalidation_safely() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let pasid = alloc(&mut sva, &mut a).unwrap();
    let p = Some(pasid);
    let (good, bad) = (X86Table::new(&mut a), X86Table::new(&mut a));
    let (data, old, new) = (a.page(), [a.page(), a.page()], [a.page(), a.page()]);
    let gva = 0x20_0000;
    let pages = rig.mem.allocated_pages();
    bad.map(&mut a, gva, data, x86::TABLE);
    good.map(&mut a, gva, old[0], x86::TABLE);
    good.map(&mut a, gva + 0x1000, old[1], x86::TABLE);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, None, bad.root), Ok(0));
    assert_eq!(bind(&mut sva, &mut a, DEV_A, p, good.root), Ok(0));
    assert!(rig.dma(None, gva, 1));
    let saved = a.ram.read_u64(bad.root);
    loop_table(&mut a, bad.root);
    let wide = entry(InvalidateKind::IotlbRange, DEV_A, None, 0, 1 << 47);
    for e in [all(None), wide] {
        assert_eq!(
            invalidate(&mut sva, &mut a, &[e]),
            (Err(HvError::NoResources), 0)
        );
        assert!(!rig.dma(None, gva, 2), "left unmapped");
        assert_eq!(sva.bindings_of(A), 2);
    }
    let left = sva.shadow_pages_left(A);
    good.map(&mut a, gva, new[0], x86::TABLE);
    good.map(&mut a, gva + 0x1000, new[1], x86::TABLE);
    let entries = [range(p, gva), all(None), range(p, gva + 0x1000)];
    assert_eq!(
        invalidate(&mut sva, &mut a, &entries),
        (Err(HvError::NoResources), 1)
    );
    assert!(rig.dma(p, gva, 3) && rig.dma(p, gva + 0x1000, 3));
    assert_eq!(
        (a.ram.byte(new[0]), a.ram.byte(old[1])),
        (3, 3),
        "entry 0 only"
    );
    assert_eq!(sva.shadow_pages_left(A), left);

    a.ram.write(bad.root, &[0; 4096]).unwrap();
    a.ram.write_u64(bad.root, saved);
    assert_eq!(invalidate(&mut sva, &mut a, &[all(None)]), (Ok(1), 1));
    assert!(rig.dma(None, gva, 4));
    assert_eq!(a.ram.byte(data), 4);
    assert_eq!(
        (
            unbind(&mut sva, &mut a, DEV_A, None),
            unbind(&mut sva, &mut a, DEV_A, p)
        ),
        (Ok(0), Ok(0))
    );
    assert_eq!(rig.mem.allocated_pages(), pages);
    assert_eq!(sva.shadow_pages_left(A), Some(256));
}

/// Table pointers and leaves a shadow must not follow: MMIO addresses,
/// B's RAM by guest-physical and by host address (where B built table
/// chains that would reach B's data), a 1 GiB leaf at A's RAM base whose
/// span covers B's guest-physical RAM, a leaf just past A's RAM. Only what
/// is in A's RAM is reachable by DMA, before and after a full re-sync; B's
/// RAM is unchanged.
#[test]
fn a_shadow_reaches_nothing_outside_the_callers_ram() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, mut b) = rig.two(&mut sva);
    // B's chains PDPT -> PD -> PT -> data, by guest-physical and by host
    // address.
    let b_data = b.page();
    let chain = |b: &mut Guest, host: bool| {
        let addr = |b: &Guest, gpa: u64| if host { b.ram.host(gpa) } else { gpa };
        let (l3, l2, l1) = (b.page(), b.page(), b.page());
        b.ram.write_u64(l3, addr(b, l2) | x86::TABLE);
        b.ram.write_u64(l2, addr(b, l1) | x86::TABLE);
        b.ram.write_u64(l1, addr(b, b_data) | x86::TABLE);
        addr(b, l3)
    };
    let b_gpa_chain = chain(&mut b, false);
    let b_host_chain = chain(&mut b, true);
    let b_sum = b.ram.checksum();

    let pasid = alloc(&mut sva, &mut a).unwrap();
    let table = X86Table::new(&mut a);
    let (data, data2) = (a.page(), a.page());
    let slot = |i: u64| i << 39;
    table.map(&mut a, slot(0), data, x86::TABLE);
    let pointers = [0xfee0_0000, 0xfed9_0000, b_gpa_chain, b_host_chain];
    for (i, pointer) in (1..).zip(pointers) {
        a.ram.write_u64(table.root + 8 * i, pointer | x86::TABLE);
    }
    let pdpt = a.page();
    a.ram.write_u64(table.root + 8 * 5, pdpt | x86::TABLE);
    let huge = GUEST_BASE | x86::PS | x86::TABLE;
    a.ram.write_u64(pdpt, huge);
    let leaves = slot(6);
    let a_end = a.ram.ram.end();
    let targets = [b.ram.host(b_data), b_data, 0xfee0_0000, a_end];
    for (i, target) in (0..).zip(targets) {
        table.map(&mut a, leaves + 0x1000 * i, target, x86::TABLE);
    }
    assert_eq!(
        bind(&mut sva, &mut a, DEV_A, Some(pasid), table.root),
        Ok(0)
    );

    let a_size = a.ram.ram.size;
    let b_offset = B_BASE - GUEST_BASE;
    #[rustfmt::skip]
    let refused = [
        slot(1), slot(2), slot(3), slot(4), slot(5) + b_offset, slot(5) + a_size,
        leaves, leaves + 0x1000, leaves + 0x2000, leaves + 0x3000,
    ];
    for round in 0..2 {
        assert!(rig.dma(Some(pasid), slot(0), 0x10 + round));
        assert_eq!(a.ram.byte(data), 0x10 + round);
        let inside = slot(5) + (data2 - GUEST_BASE);
        assert!(rig.dma(Some(pasid), inside, 0x20 + round));
        assert_eq!(a.ram.byte(data2), 0x20 + round, "the 1 GiB leaf in A's RAM");
        for gva in refused {
            assert!(!rig.dma(Some(pasid), gva, 0x66), "round {round}: {gva:#x}");
        }
        assert_eq!(b.ram.checksum(), b_sum, "round {round}");
        let all = all(Some(pasid));
        assert_eq!(invalidate(&mut sva, &mut a, &[all]), (Ok(1), 1));
    }
}

/// A PASID bound on a table mapping `gvas` to `old` pages, remapped to
/// `new` pages without invalidating.
struct Remapped {
    table: X86Table,
    pasid: u32,
    gvas: [u64; 4],
    old: [u64; 4],
    new: [u64; 4],
}

fn remapped(sva: &mut Service<'_>, a: &mut Guest) -> Remapped {
    let pasid = alloc(sva, a).unwrap();
    let table = X86Table::new(a);
    let gvas = core::array::from_fn(|i| 0x10_0000 + 0x1000 * i as u64);
    let old = core::array::from_fn(|_| a.page());
    let new = core::array::from_fn(|_| a.page());
    for i in 0..4 {
        table.map(a, gvas[i], old[i], x86::TABLE);
    }
    assert_eq!(bind(sva, a, DEV_A, Some(pasid), table.root), Ok(0));
    for i in 0..4 {
        table.map(a, gvas[i], new[i], x86::TABLE);
    }
    Remapped {
        table,
        pasid,
        gvas,
        old,
        new,
    }
}

/// Where DMA to each of `r.gvas` lands: true for the new page.
fn landed(rig: &Rig, a: &Guest, r: &Remapped, tag: u8) -> [bool; 4] {
    core::array::from_fn(|i| {
        assert!(rig.dma(Some(r.pasid), r.gvas[i], tag), "{i}");
        let (old, new) = (a.ram.byte(r.old[i]), a.ram.byte(r.new[i]));
        assert!(old == tag || new == tag, "{i}: landed elsewhere");
        new == tag
    })
}

/// Entry 2 of 4 unaligned: BadArgument, count 2, entries 0 and 1 re-synced
/// (DMA reaches the new pages), entries 2 and 3 not (the old pages).
#[test]
fn a_refused_entry_stops_the_batch_after_the_ones_before_it() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let r = remapped(&mut sva, &mut a);
    let p = Some(r.pasid);
    let g = r.gvas;
    let entries = [
        range(p, g[0]),
        range(p, g[1]),
        range(p, g[2] + 0x800),
        range(p, g[3]),
    ];
    assert_eq!(
        invalidate(&mut sva, &mut a, &entries),
        (Err(HvError::BadArgument), 2)
    );
    assert_eq!(landed(&rig, &a, &r, 0x31), [true, true, false, false]);
    let entries = [range(p, g[2]), range(p, g[3])];
    assert_eq!(invalidate(&mut sva, &mut a, &entries), (Ok(2), 2));
    assert_eq!(landed(&rig, &a, &r, 0x32), [true; 4]);
}

/// Each malformed entry, after a good one: its error, count 1, the good
/// entry's re-sync done.
#[test]
fn each_malformed_entry_is_refused_at_its_index() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let r = remapped(&mut sva, &mut a);
    let unbound = alloc(&mut sva, &mut a).unwrap();
    let p = Some(r.pasid);
    let g = r.gvas[0];
    let ok = range(p, g);
    let all = all(p);
    let cache = entry(InvalidateKind::PasidCache, DEV_A, p, 0, 0);
    let leaf = EntryFlags::LEAF.bits() | EntryFlags::PASID.bits();
    let asid = EntryFlags::ASID.bits() | EntryFlags::PASID.bits();
    let (bad, nf) = (HvError::BadArgument, HvError::NotFound);
    #[rustfmt::skip]
    let cases = [
        ("unaligned", InvalidateEntry { address: g + 8, ..ok }, bad),
        ("size 0", InvalidateEntry { size: 0, ..ok }, bad),
        ("size 2K", InvalidateEntry { size: 0x800, ..ok }, bad),
        ("size 6K", InvalidateEntry { size: 0x1800, ..ok }, bad),
        ("past 2^48", InvalidateEntry { address: (1 << 48) - 0x1000, size: 0x2000, ..ok }, bad),
        ("at 2^48", InvalidateEntry { address: 1 << 48, ..ok }, bad),
        ("canonical high", InvalidateEntry { address: 0xffff_8000_0000_0000, ..ok }, bad),
        ("overflow", InvalidateEntry { address: 0xffff_ffff_ffff_f000, size: 0x2000, ..ok }, bad),
        ("huge size", InvalidateEntry { size: 0xffff_ffff_ffff_f000, ..ok }, bad),
        ("LEAF on IotlbAll", InvalidateEntry { flags: leaf, ..all }, bad),
        ("LEAF on PasidCache", InvalidateEntry { flags: leaf, ..cache }, bad),
        ("address on IotlbAll", InvalidateEntry { address: g, ..all }, bad),
        ("size on IotlbAll", InvalidateEntry { size: 0x1000, ..all }, bad),
        ("address on PasidCache", InvalidateEntry { address: g, ..cache }, bad),
        ("kind 0", InvalidateEntry { kind: 0, ..ok }, bad),
        ("kind 6", InvalidateEntry { kind: 6, ..ok }, bad),
        ("kind 255", InvalidateEntry { kind: 255, ..ok }, bad),
        ("flag bit 3", InvalidateEntry { flags: ok.flags | 1 << 3, ..ok }, bad),
        ("flag bit 7", InvalidateEntry { flags: ok.flags | 1 << 7, ..ok }, bad),
        ("reserved", InvalidateEntry { reserved: 1, ..ok }, bad),
        ("asid without ASID", InvalidateEntry { asid: 1, ..ok }, bad),
        ("ASID without a CD table", InvalidateEntry { flags: asid, ..ok }, bad),
        ("PASID 2^20", InvalidateEntry { pasid: 1 << 20, ..ok }, bad),
        ("PASID 2^20 + p", InvalidateEntry { pasid: (1 << 20) | r.pasid, ..ok }, bad),
        ("pasid without PASID", InvalidateEntry { flags: 0, ..ok }, bad),
        ("PASID not held", InvalidateEntry { pasid: 9, ..ok }, nf),
        ("PASID held, unbound", InvalidateEntry { pasid: unbound, ..ok }, nf),
        ("no PASID, unbound", range(None, g), nf),
        ("PasidCache, no PASID, unbound", entry(InvalidateKind::PasidCache, DEV_A, None, 0, 0), nf),
        ("device not in window", InvalidateEntry { device: DEV_B, ..ok }, nf),
    ];
    for (i, (name, bad_entry, e)) in cases.iter().enumerate() {
        // g alternates between the new and the old page; entry 0 re-syncs it.
        let target = if i % 2 == 0 { r.new[0] } else { r.old[0] };
        r.table.map(&mut a, g, target, x86::TABLE);
        let result = invalidate(&mut sva, &mut a, &[ok, *bad_entry]);
        assert_eq!(result, (Err(*e), 1), "{name}");
        let tag = i as u8 + 1;
        assert!(rig.dma(p, g, tag));
        assert_eq!(a.ram.byte(target), tag, "{name}: entry 0 took effect");
    }
    assert_eq!(sva.bindings_of(A), 1);
}

/// Errors of the call itself: count above 256, flags, an entry size below
/// 32 or above 4096, an array not wholly in RAM. Count reads back 0 and no
/// entry took effect (valid entries sit where a wrong reading would find
/// them); the same batch done right then takes effect.
#[test]
fn a_malformed_batch_is_refused_whole_with_count_zero() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, b) = rig.two(&mut sva);
    let r = remapped(&mut sva, &mut a);
    let p = Some(r.pasid);
    let (at, end) = (entries_at(&a), a.ram.ram.end());
    for (gpa, gva) in [(at, r.gvas[0]), (end - 32, r.gvas[1])] {
        let mut bytes = [0u8; 32];
        range(p, gva).encode(&mut bytes);
        a.ram.write(gpa, &bytes).unwrap();
    }
    let good = batch_args(at, 1);
    let (bad, big) = (HvError::BadArgument, HvError::TooBig);
    let b_host = b.ram.ram.host;
    #[rustfmt::skip]
    let cases = [
        ("count 257", Invalidate { count: 257, ..good }, bad),
        ("count max", Invalidate { count: u32::MAX, ..good }, bad),
        ("flag 0", Invalidate { flags: 1, ..good }, bad),
        ("flag 31", Invalidate { flags: 1 << 31, ..good }, bad),
        ("entry size 0", Invalidate { entry_size: 0, ..good }, bad),
        ("entry size 31", Invalidate { entry_size: 31, ..good }, bad),
        ("entry size 4097", Invalidate { entry_size: 4097, ..good }, big),
        ("entry size max", Invalidate { entry_size: u32::MAX, ..good }, big),
        ("crossing the end", batch_args(end - 32, 2), bad),
        ("past the end", Invalidate { entry_size: 4096, count: 256, ..good }, bad),
        ("crossing the start", batch_args(GUEST_BASE - 32, 2), bad),
        ("at 0", batch_args(0, 1), bad),
        ("wrapping", batch_args(u64::MAX - 31, 2), bad),
        ("B's RAM", batch_args(B_BASE, 1), bad),
        ("B's host RAM", batch_args(b_host, 1), bad),
    ];
    for (name, args, e) in cases {
        assert_eq!(batch(&mut sva, &mut a, args), (Err(e), 0), "{name}");
    }
    assert_eq!(
        landed(&rig, &a, &r, 0x41),
        [false; 4],
        "nothing took effect"
    );
    assert_eq!(batch(&mut sva, &mut a, good), (Ok(1), 1));
    assert_eq!(landed(&rig, &a, &r, 0x42), [true, false, false, false]);
}

/// 40-byte entries: a non-zero byte in entry 1's tail is TooBig at 1 after
/// entry 0 took effect; zero tails are taken.
#[test]
fn longer_entries_need_a_zero_tail() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let r = remapped(&mut sva, &mut a);
    let at = entries_at(&a);
    let write = |a: &mut Guest, tail: u8| {
        for i in 0..3 {
            let mut bytes = [0u8; 40];
            range(Some(r.pasid), r.gvas[i]).encode(&mut bytes);
            bytes[39] = if i == 1 { tail } else { 0 };
            a.ram.write(at + 40 * i as u64, &bytes).unwrap();
        }
    };
    let args = Invalidate {
        entry_size: 40,
        ..batch_args(at, 3)
    };
    write(&mut a, 1);
    assert_eq!(batch(&mut sva, &mut a, args), (Err(HvError::TooBig), 1));
    assert_eq!(landed(&rig, &a, &r, 0x51), [true, false, false, false]);
    write(&mut a, 0);
    assert_eq!(batch(&mut sva, &mut a, args), (Ok(3), 3));
    assert_eq!(landed(&rig, &a, &r, 0x52), [true, true, true, false]);
}

/// abi/README.md: "`count` 0 is a probe: the array is not read and the
/// value is the entry size vsva knows, 32."
#[test]
fn a_count_of_zero_probes_the_entry_size() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let r = remapped(&mut sva, &mut a);
    let mut bytes = [0u8; 32];
    range(Some(r.pasid), r.gvas[0]).encode(&mut bytes);
    let at = entries_at(&a);
    a.ram.write(at, &bytes).unwrap();
    for entries in [at, 0, u64::MAX] {
        let r = batch(&mut sva, &mut a, batch_args(entries, 0));
        assert_eq!(r, (Ok(32), 0), "{entries:#x}");
    }
    assert_eq!(
        landed(&rig, &a, &r, 0x61),
        [false; 4],
        "the array was not read"
    );
}

/// The walk limit is per call, not per entry: a table whose full walk
/// costs about 200 000 entries (200 PDPT entries aliasing one page
/// directory whose first entry leads to an empty page table) re-syncs
/// once, but a batch asking for two rebuilds stops at the second with
/// NoResources after the first took effect (count 1); one call never walks
/// more than `WALK_LIMIT_PER_CALL` guest entries.
#[test]
fn one_call_walks_a_bounded_number_of_guest_entries() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let pml4 = a.page();
    let (pdpt, pd, pt) = (a.page(), a.page(), a.page());
    a.ram.write_u64(pml4, pdpt | x86::TABLE);
    for i in 0..200 {
        a.ram.write_u64(pdpt + 8 * i, pd | x86::TABLE);
    }
    a.ram.write_u64(pd, pt | x86::TABLE);
    assert_eq!(bind(&mut sva, &mut a, DEV_A, None, pml4), Ok(0));
    assert_eq!(invalidate(&mut sva, &mut a, &[all(None)]), (Ok(1), 1));
    assert_eq!(
        invalidate(&mut sva, &mut a, &[all(None), all(None)]),
        (Err(HvError::NoResources), 1)
    );
    const { assert!(2 * 200 * 1024 > vsva_sva::WALK_LIMIT_PER_CALL) };
    assert_eq!(unbind(&mut sva, &mut a, DEV_A, None), Ok(0));
}
