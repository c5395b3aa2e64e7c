//! Hostile calls against the service over the VT-d model: argument structs
//! of bad sizes or outside the caller's RAM, devices and PASIDs not the
//! caller's, malformed binds, and a partition aiming at another's state.
//! Every test checks the exact error and that nothing changed: no binding
//! or PASID recorded, DMA still refused or landing where it did, the other
//! partition's RAM and the allocator's page count unchanged.
//! (hostile_shadow.rs: hostile guest tables and invalidation batches;
//! hostile_smmu.rs: the same over the SMMUv3 model.)

mod common;

use common::calls::{
    STRUCTS, alloc, bind, call, entry, free, info_args, invalidate, pasid_args, refused, unbind,
    unbind_args, unbind_cd, x86_args,
};
use common::vtd::{A, B, B_BASE, DEV_A, DEV_B, NESTED, RID_A, RID_B, Rig, SHADOW, Service};
use common::{GUEST_BASE, Guest, Layout, X86Table, device, pasids, x86};
use vsva_abi::sva::{
    BindCdTable, BindStage1, InvalidateKind, Pasid, SvaInfo, SvaStruct, UnbindStage1,
};
use vsva_abi::{Call, HvError};
use vsva_sva::PartitionId;
use vsva_sva::backend::NoStage2Tables;
use vsva_sva::guest::GuestMemory;

/// A call on whatever lies at `gpa`, after writing `bytes` there.
fn raw(
    sva: &mut Service<'_>,
    g: &mut Guest,
    c: Call,
    gpa: u64,
    bytes: &[u8],
) -> Result<u64, HvError> {
    g.call_raw(sva, &mut NoStage2Tables, c, gpa, bytes)
}

/// `v` encoded into `len` bytes (a zero tail), its size field `size`.
fn sized<T: SvaStruct>(v: &T, size: u32, len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len.max(T::SIZE)];
    v.encode(&mut b);
    b[..4].copy_from_slice(&size.to_le_bytes());
    b
}

/// Size 0 probes without writing; a short size is a bad argument; a size
/// above 4096, or a longer struct with a non-zero tail byte, is too big;
/// none of it allocates, binds or takes a PASID.
#[test]
fn struct_sizes_probe_short_and_too_big() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let pages = rig.mem.allocated_pages();
    let at = a.scratch;
    for (c, size) in STRUCTS {
        let mut probe = vec![0xa5u8; 64];
        probe[..4].fill(0);
        assert_eq!(
            raw(&mut sva, &mut a, c, at, &probe),
            Ok(u64::from(size)),
            "{c:?}"
        );
        let mut back = vec![0u8; 64];
        a.ram.read(at, &mut back).unwrap();
        assert_eq!(back, probe, "{c:?}: a probe writes nothing");
        #[rustfmt::skip]
        let sizes = [
            (size - 1, HvError::BadArgument), (1, HvError::BadArgument),
            (4097, HvError::TooBig), (u32::MAX, HvError::TooBig),
        ];
        for (bad, e) in sizes {
            let bytes = sized(&Pasid::default(), bad, 64);
            assert_eq!(
                raw(&mut sva, &mut a, c, at, &bytes),
                Err(e),
                "{c:?} size {bad}"
            );
        }
        // Longer than known, one non-zero byte in the tail.
        for tail in [size as usize, size as usize + 7, 4095] {
            let mut bytes = sized(&Pasid::default(), 4096, 4096);
            bytes[tail] = 1;
            let r = raw(&mut sva, &mut a, c, at, &bytes);
            assert_eq!(r, Err(HvError::TooBig), "{c:?} tail byte {tail}");
        }
        a.ram.write(at, &[0; 4096]).unwrap();
    }
    assert_eq!((sva.pasids_in_use(), sva.bindings_of(A)), (0, 0));
    assert_eq!(rig.mem.allocated_pages(), pages);
}

/// A longer struct with a zero tail is taken; results are written for the
/// size vsva knows only: the caller's zero tail stays zero, what follows
/// the caller's struct is untouched.
#[test]
fn longer_structs_with_zero_tails_are_taken_and_results_truncated() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let at = a.scratch;
    for len in [56usize, 64, 4096] {
        let bytes = sized(&info_args(DEV_A), len as u32, len);
        a.ram.write(at + len as u64, &[0xee; 8]).unwrap();
        assert_eq!(
            raw(&mut sva, &mut a, Call::SvaInfo, at, &bytes),
            Ok(0),
            "{len}"
        );
        let mut back = vec![0u8; len + 8];
        a.ram.read(at, &mut back).unwrap();
        let info = SvaInfo::decode(&back[..48]);
        assert_eq!(
            (info.iommu, info.install, info.max_invalidations),
            (1, 2, 256)
        );
        assert!(
            back[48..len].iter().all(|&b| b == 0),
            "{len}: the tail stays zero"
        );
        assert_eq!(&back[len..], &[0xee; 8], "{len}: past the caller's struct");
    }
    let bytes = sized(&pasid_args(0), 32, 32);
    a.ram.write(at + 32, &[0xee; 8]).unwrap();
    assert_eq!(raw(&mut sva, &mut a, Call::PasidAlloc, at, &bytes), Ok(0));
    let mut back = [0u8; 40];
    a.ram.read(at, &mut back).unwrap();
    assert_eq!(Pasid::decode(&back[..16]).pasid, 1);
    assert_eq!(
        (&back[16..32], &back[32..]),
        (&[0u8; 16][..], &[0xeeu8; 8][..])
    );
    assert_eq!(sva.pasids_of(A), [1]);
    let t = X86Table::new(&mut a);
    let bytes = sized(&x86_args(DEV_A, Some(1), t.root), 56, 56);
    assert_eq!(raw(&mut sva, &mut a, Call::BindStage1, at, &bytes), Ok(0));
    let bytes = sized(&unbind_args(DEV_A, Some(1)), 4096, 4096);
    assert_eq!(raw(&mut sva, &mut a, Call::UnbindStage1, at, &bytes), Ok(0));
}

/// SvaInfo's out fields and reserved bytes are ignored on input
/// (abi/README.md): garbage there gives the same answer as zeros, the
/// reserved bytes written back as zero.
#[test]
fn sva_info_ignores_its_out_fields_and_reserved_bytes_on_input() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, _b) = rig.two(&mut sva);
    let at = a.scratch;
    let mut clean = [0u8; 48];
    assert_eq!(
        raw(
            &mut sva,
            &mut a,
            Call::SvaInfo,
            at,
            &sized(&info_args(DEV_A), 48, 48)
        ),
        Ok(0)
    );
    a.ram.read(at, &mut clean).unwrap();
    assert_eq!(&clean[41..], &[0; 7]);
    for fill in [0xff, 0x5a] {
        let mut bytes = [fill; 48];
        info_args(DEV_A).encode(&mut bytes[..8]);
        assert_eq!(
            raw(&mut sva, &mut a, Call::SvaInfo, at, &bytes),
            Ok(0),
            "{fill:#x}"
        );
        let mut back = [0u8; 48];
        a.ram.read(at, &mut back).unwrap();
        assert_eq!(back, clean, "{fill:#x}");
    }
}

/// A struct not wholly in the caller's RAM: below it, straddling its start
/// or end (the size field readable, the rest not), past it, wrapping the
/// address space, at B's RAM by host or guest-physical address, at MMIO.
#[test]
fn structs_outside_or_crossing_the_callers_ram_are_bad_arguments() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, b) = rig.two(&mut sva);
    let end = a.ram.ram.end();
    let b_sum = b.ram.checksum();
    for (c, size) in STRUCTS {
        // The struct is 4 bytes too long for what is left of RAM.
        let crossing = end - u64::from(size) + 4;
        a.ram.write(crossing, &vec![0; size as usize - 4]).unwrap();
        a.ram.write(crossing, &size.to_le_bytes()).unwrap();
        a.ram.write(end - 4, &size.to_le_bytes()).unwrap();
        #[rustfmt::skip]
        let outside = [
            0, GUEST_BASE - 2, crossing, end - 4, end, u64::MAX - 3, u64::MAX,
            B_BASE, b.ram.ram.host, 0xfee0_0000,
        ];
        for gpa in outside {
            let r = sva.call(A, c, gpa, &mut a.ram, &mut NoStage2Tables);
            assert_eq!(r, Err(HvError::BadArgument), "{c:?} at {gpa:#x}");
        }
    }
    assert_eq!(b.ram.checksum(), b_sum);
    assert_eq!((sva.pasids_in_use(), sva.bindings_of(A)), (0, 0));
}

/// A device not in the caller's window (B's device by B's ID or its host
/// ID, an ID whose low 16 bits are A's own) is not found by any call.
#[test]
fn devices_outside_the_window_are_not_found() {
    for rig in [Rig::new(SHADOW), Rig::new(NESTED)] {
        let mut sva = rig.service();
        let (mut a, _b) = rig.two(&mut sva);
        let table = X86Table::new(&mut a);
        let pasid = alloc(&mut sva, &mut a).unwrap();
        let nf = Err(HvError::NotFound);
        for device in [DEV_B, RID_B, 0, 0xffff, 0x1_0000 | DEV_A, u32::MAX] {
            let info = info_args(device);
            assert_eq!(
                call(&mut sva, &mut a, Call::SvaInfo, &info),
                nf,
                "{device:#x}"
            );
            for p in [None, Some(pasid)] {
                assert_eq!(bind(&mut sva, &mut a, device, p, table.root), nf);
                assert_eq!(unbind(&mut sva, &mut a, device, p), nf);
                let e = entry(InvalidateKind::IotlbAll, device, p, 0, 0);
                assert_eq!(invalidate(&mut sva, &mut a, &[e]), (nf, 0));
            }
            let cd = BindCdTable {
                size: 40,
                device,
                ..Default::default()
            };
            assert_eq!(call(&mut sva, &mut a, Call::BindCdTable, &cd), nf);
            assert_eq!(unbind_cd(&mut sva, &mut a, device), nf);
        }
        assert_eq!((sva.bindings_of(A), sva.bindings_of(B)), (0, 0));
    }
}

/// PASIDs: flags or reserved set, freeing one not held or held by B, the
/// quota (and a zero quota), freeing while bound, reuse lowest first.
#[test]
fn pasids_are_held_to_their_owner_and_quota() {
    let rig = Rig::new(SHADOW);
    let mut sva = rig.service();
    let (mut a, mut b) = rig.two(&mut sva);
    let c = PartitionId(3);
    let quota_0 = Layout {
        quota: 0,
        ..Layout::new(c, 0x4100_0000, 4)
    };
    let mut g = rig.partition(&mut sva, quota_0, None);
    assert_eq!(
        alloc(&mut sva, &mut g),
        Err(HvError::NoResources),
        "quota 0"
    );
    assert_eq!(sva.pasids_of(c), Vec::<u32>::new());
    let bad = Err(HvError::BadArgument);
    #[rustfmt::skip]
    let malformed = [
        Pasid { flags: 1, ..pasid_args(0) }, Pasid { flags: 1 << 31, ..pasid_args(0) },
        Pasid { reserved: 1, ..pasid_args(0) }, Pasid { reserved: 1 << 31, ..pasid_args(0) },
    ];
    for args in malformed {
        assert_eq!(
            call(&mut sva, &mut a, Call::PasidAlloc, &args),
            bad,
            "{args:?}"
        );
    }
    assert_eq!(sva.pasids_in_use(), 0);
    assert_eq!(alloc(&mut sva, &mut b), Ok(1));
    for pasid in [1, 0, 2, 77, 1 << 20, (1 << 20) | 1, u32::MAX] {
        assert_eq!(
            free(&mut sva, &mut a, pasid),
            Err(HvError::NotFound),
            "{pasid:#x}"
        );
    }
    assert_eq!(sva.pasids_of(B), [1], "B still holds its PASID");
    let held: Vec<u32> = (0..4).map(|_| alloc(&mut sva, &mut a).unwrap()).collect();
    assert_eq!(held, [2, 3, 4, 5]);
    assert_eq!(
        alloc(&mut sva, &mut a),
        Err(HvError::NoResources),
        "quota 4"
    );
    for args in malformed {
        let args = Pasid { pasid: 3, ..args };
        assert_eq!(
            call(&mut sva, &mut a, Call::PasidFree, &args),
            bad,
            "{args:?}"
        );
    }
    assert_eq!(sva.pasids_of(A), [2, 3, 4, 5]);
    // QEMU's unit takes PASIDs below 2 only: 1, once B gives it back.
    let table = X86Table::new(&mut a);
    assert_eq!(
        bind(&mut sva, &mut a, DEV_A, Some(1), table.root),
        Err(HvError::NotFound)
    );
    assert_eq!(free(&mut sva, &mut b, 1), Ok(0));
    assert_eq!(free(&mut sva, &mut a, 3), Ok(0));
    assert_eq!(alloc(&mut sva, &mut a), Ok(1), "the lowest free");
    assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(1), table.root), Ok(0));
    assert_eq!(free(&mut sva, &mut a, 1), Err(HvError::Busy));
    assert_eq!(sva.pasids_of(A), [1, 2, 4, 5]);
    assert_eq!(unbind(&mut sva, &mut a, DEV_A, Some(1)), Ok(0));
    assert_eq!(free(&mut sva, &mut a, 1), Ok(0));
    assert_eq!(
        (alloc(&mut sva, &mut b), alloc(&mut sva, &mut b)),
        (Ok(1), Ok(3))
    );
    assert_eq!(sva.pasids_of(A), [2, 4, 5]);
}

/// The PASID a bind names: too wide for the namespace or the device, not
/// held, without the flag, on a device without PASIDs; unbind's flags.
#[test]
fn bind_pasids_are_checked_against_namespace_device_and_holder() {
    let rig = Rig::new(NESTED);
    let mut sva = rig.service();
    let a = Layout {
        quota: 20,
        ..Layout::new(A, GUEST_BASE, 64)
    };
    let mut a = rig.partition(&mut sva, a, Some(device(RID_A, DEV_A, pasids(4))));
    let b = Layout::new(B, B_BASE, 16);
    let mut b = rig.partition(&mut sva, b, Some(device(RID_B, DEV_B, pasids(0))));
    let root = X86Table::new(&mut a).root;
    let held: Vec<u32> = (0..17).map(|_| alloc(&mut sva, &mut a).unwrap()).collect();
    assert_eq!(held.last(), Some(&17));
    let (bad, nf, unsupported) = (
        HvError::BadArgument,
        HvError::NotFound,
        HvError::Unsupported,
    );
    #[rustfmt::skip]
    let cases = [
        ("2^20", x86_args(DEV_A, Some(1 << 20), root), bad),
        ("2^20 + 1", x86_args(DEV_A, Some((1 << 20) | 1), root), bad),
        ("max", x86_args(DEV_A, Some(u32::MAX), root), bad),
        ("not held", x86_args(DEV_A, Some(18), root), nf),
        ("no flag", BindStage1 { flags: 0, ..x86_args(DEV_A, Some(3), root) }, bad),
        ("2^4", x86_args(DEV_A, Some(16), root), unsupported),
        ("2^4 + 1", x86_args(DEV_A, Some(17), root), unsupported),
    ];
    refused(&mut sva, &mut a, Call::BindStage1, &cases);
    assert_eq!(sva.bindings_of(A), 0);
    assert_eq!(
        bind(&mut sva, &mut a, DEV_A, Some(15), root),
        Ok(0),
        "below 2^4"
    );
    // B's device has no PASID capability.
    let pb = alloc(&mut sva, &mut b).unwrap();
    let b_root = X86Table::new(&mut b).root;
    assert_eq!(
        bind(&mut sva, &mut b, DEV_B, Some(pb), b_root),
        Err(unsupported)
    );
    let ok = unbind_args(DEV_A, Some(15));
    for flags in [0, 1 << 1 | 1, 1 << 4 | 1, 1 << 31 | 1] {
        let args = UnbindStage1 { flags, ..ok };
        assert_eq!(
            call(&mut sva, &mut a, Call::UnbindStage1, &args),
            Err(bad),
            "{flags:#x}"
        );
    }
    assert_eq!((sva.bindings_of(A), sva.bindings_of(B)), (1, 0));
}

/// Malformed binds on both installs: every one refused with its error,
/// nothing bound, no page allocated, no shadow budget spent; the same
/// table then binds (so the refusals were the fields').
#[test]
fn malformed_binds_are_refused_and_change_nothing() {
    for (unit, shadow) in [(SHADOW, true), (NESTED, false)] {
        let rig = Rig::new(unit);
        let mut sva = rig.service();
        let (mut a, b) = rig.two(&mut sva);
        let p1 = alloc(&mut sva, &mut a).unwrap();
        let p2 = alloc(&mut sva, &mut a).unwrap();
        let table = X86Table::new(&mut a);
        let data = a.page();
        let gva = 0x5000_0000;
        table.map(&mut a, gva, data, x86::TABLE);
        let ok = x86_args(DEV_A, Some(p1), table.root);
        let (end, b_host) = (a.ram.ram.end(), b.ram.ram.host);
        let (bad, unsupported) = (HvError::BadArgument, HvError::Unsupported);
        let (sre, wpe, eafe, tbi) = (1 << 1 | 1, 1 << 2 | 1, 1 << 3 | 1, 1 << 4 | 1);
        #[rustfmt::skip]
        let mut cases = vec![
            ("flag bit 5", BindStage1 { flags: 1 << 5 | 1, ..ok }, bad),
            ("flag bit 31", BindStage1 { flags: 1 << 31 | 1, ..ok }, bad),
            ("reserved", BindStage1 { reserved: 1, ..ok }, bad),
            ("format 0", BindStage1 { format: 0, ..ok }, bad),
            ("format 6", BindStage1 { format: 6, ..ok }, bad),
            ("format max", BindStage1 { format: u32::MAX, ..ok }, bad),
            ("VMSAv8 4K", BindStage1 { format: 3, input_bits: 39, ..ok }, unsupported),
            ("VMSAv8 64K", BindStage1 { format: 5, input_bits: 48, ..ok }, unsupported),
            ("input 0", BindStage1 { input_bits: 0, ..ok }, bad),
            ("input 47", BindStage1 { input_bits: 47, ..ok }, bad),
            ("input 57", BindStage1 { input_bits: 57, ..ok }, bad),
            ("root + 8", BindStage1 { root: ok.root + 8, ..ok }, bad),
            ("root + 2K", BindStage1 { root: ok.root + 0x800, ..ok }, bad),
            ("root 0", BindStage1 { root: 0, ..ok }, bad),
            ("root below RAM", BindStage1 { root: GUEST_BASE - 0x1000, ..ok }, bad),
            ("root at the end", BindStage1 { root: end, ..ok }, bad),
            ("root in B", BindStage1 { root: B_BASE, ..ok }, bad),
            ("root at B's host", BindStage1 { root: b_host, ..ok }, bad),
            ("root MMIO", BindStage1 { root: 0xfee0_0000, ..ok }, bad),
            ("root wraps", BindStage1 { root: 0xffff_ffff_ffff_f000, ..ok }, bad),
            ("mair", BindStage1 { mair: 0xff, ..ok }, bad),
            ("walk", BindStage1 { walk: 0b11_01_01, ..ok }, bad),
            ("walk SH 01", BindStage1 { walk: 0b01_0000, ..ok }, bad),
            ("VMSA_TBI", BindStage1 { flags: tbi, ..ok }, unsupported),
        ];
        if shadow {
            #[rustfmt::skip]
            cases.extend([
                ("SRE", BindStage1 { flags: sre, ..ok }, unsupported),
                ("WPE", BindStage1 { flags: wpe, ..ok }, unsupported),
                ("EAFE", BindStage1 { flags: eafe, ..ok }, unsupported),
                ("5-level", BindStage1 { format: 2, input_bits: 57, ..ok }, unsupported),
                ("PASID 2 >= 2^1", BindStage1 { pasid: p2, ..ok }, unsupported),
            ]);
        } else {
            cases.push(("5-level, 48 bits", BindStage1 { format: 2, ..ok }, bad));
        }
        let pages = rig.mem.allocated_pages();
        refused(&mut sva, &mut a, Call::BindStage1, &cases);
        assert_eq!(sva.bindings_of(A), 0);
        assert_eq!(rig.mem.allocated_pages(), pages);
        assert_eq!(sva.shadow_pages_left(A), Some(256));
        let e = entry(InvalidateKind::PasidCacheAll, DEV_A, None, 0, 0);
        assert_eq!(
            invalidate(&mut sva, &mut a, &[e]),
            (Err(HvError::NotFound), 0)
        );
        assert!(!rig.dma(Some(p1), gva, 1), "nothing bound on the PASID");
        assert_eq!(call(&mut sva, &mut a, Call::BindStage1, &ok), Ok(0));
        assert!(rig.dma(Some(p1), gva, 2));
        assert_eq!(a.ram.byte(data), 2);
    }
}

/// A second bind on a bound (device, PASID) is busy and leaves the first
/// in place; unbinding what is not bound is not found; a CD table on a
/// VT-d device is unsupported and unbinding one is not found.
#[test]
fn double_binds_are_busy_and_unbinds_of_nothing_not_found() {
    for unit in [SHADOW, NESTED] {
        let rig = Rig::new(unit);
        let mut sva = rig.service();
        let (mut a, _b) = rig.two(&mut sva);
        let (p1, p2) = (
            alloc(&mut sva, &mut a).unwrap(),
            alloc(&mut sva, &mut a).unwrap(),
        );
        let (t1, t2) = (X86Table::new(&mut a), X86Table::new(&mut a));
        let (d1, d2) = (a.page(), a.page());
        let gva = 0x7000_0000;
        t1.map(&mut a, gva, d1, x86::TABLE);
        t2.map(&mut a, gva, d2, x86::TABLE);
        assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(p1), t1.root), Ok(0));
        let pages = rig.mem.allocated_pages();
        assert_eq!(
            bind(&mut sva, &mut a, DEV_A, Some(p1), t1.root),
            Err(HvError::Busy)
        );
        assert_eq!(
            bind(&mut sva, &mut a, DEV_A, Some(p1), t2.root),
            Err(HvError::Busy)
        );
        assert_eq!(rig.mem.allocated_pages(), pages);
        assert!(rig.dma(Some(p1), gva, 3));
        assert_eq!(
            (a.ram.byte(d1), a.ram.byte(d2)),
            (3, 0),
            "the first table stays"
        );
        for p in [Some(p2), None] {
            assert_eq!(unbind(&mut sva, &mut a, DEV_A, p), Err(HvError::NotFound));
        }
        let cd = BindCdTable {
            size: 40,
            device: DEV_A,
            config: 2,
            table: a.page(),
            ..Default::default()
        };
        assert_eq!(
            call(&mut sva, &mut a, Call::BindCdTable, &cd),
            Err(HvError::Unsupported)
        );
        assert_eq!(unbind_cd(&mut sva, &mut a, DEV_A), Err(HvError::NotFound));
        assert_eq!(sva.bindings_of(A), 1);
        assert!(rig.dma(Some(p1), gva, 4));
        assert_eq!(a.ram.byte(d1), 4);
    }
}

/// B, with a device and a PASID of its own, aims every call at A's device,
/// A's PASID and A's binding: all NotFound. A's binding, PASIDs and
/// invalidations are as they were.
#[test]
fn a_partition_cannot_touch_anothers_devices_pasids_or_bindings() {
    for unit in [SHADOW, NESTED] {
        let rig = Rig::new(unit);
        let mut sva = rig.service();
        let (mut a, mut b) = rig.two(&mut sva);
        let pa = alloc(&mut sva, &mut a).unwrap();
        let table = X86Table::new(&mut a);
        let (data, data2) = (a.page(), a.page());
        let gva = 0x3000_0000;
        table.map(&mut a, gva, data, x86::TABLE);
        assert_eq!(bind(&mut sva, &mut a, DEV_A, Some(pa), table.root), Ok(0));
        let pb = alloc(&mut sva, &mut b).unwrap();
        let tb = X86Table::new(&mut b);
        let nf = Err(HvError::NotFound);
        for (device, p) in [
            (DEV_A, Some(pa)),
            (DEV_A, None),
            (DEV_A, Some(pb)),
            (DEV_B, Some(pa)),
        ] {
            assert_eq!(bind(&mut sva, &mut b, device, p, tb.root), nf);
            assert_eq!(unbind(&mut sva, &mut b, device, p), nf);
            #[rustfmt::skip]
            let entries = [
                entry(InvalidateKind::IotlbRange, device, p, gva, 0x1000),
                entry(InvalidateKind::IotlbAll, device, p, 0, 0),
                entry(InvalidateKind::PasidCache, device, p, 0, 0),
                entry(InvalidateKind::DeviceTlb, device, p, gva, 0x1000),
            ];
            for e in entries {
                assert_eq!(invalidate(&mut sva, &mut b, &[e]), (nf, 0), "{e:?}");
            }
        }
        let e = entry(InvalidateKind::PasidCacheAll, DEV_A, None, 0, 0);
        assert_eq!(invalidate(&mut sva, &mut b, &[e]), (nf, 0));
        assert_eq!(free(&mut sva, &mut b, pa), nf);
        assert_eq!(call(&mut sva, &mut b, Call::SvaInfo, &info_args(DEV_A)), nf);
        assert_eq!(unbind_cd(&mut sva, &mut b, DEV_A), nf);
        assert_eq!((sva.pasids_of(A), sva.pasids_of(B)), (vec![pa], vec![pb]));
        assert_eq!((sva.bindings_of(A), sva.bindings_of(B)), (1, 0));
        assert!(rig.dma(Some(pa), gva, 0x51));
        assert_eq!(a.ram.byte(data), 0x51);
        table.map(&mut a, gva, data2, x86::TABLE);
        let e = entry(InvalidateKind::IotlbRange, DEV_A, Some(pa), gva, 0x1000);
        assert_eq!(invalidate(&mut sva, &mut a, &[e]), (Ok(1), 1));
        assert!(rig.dma(Some(pa), gva, 0x52));
        assert_eq!((a.ram.byte(data), a.ram.byte(data2)), (0x51, 0x52));
    }
}
