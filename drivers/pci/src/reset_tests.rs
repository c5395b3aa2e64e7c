//! Resets against the configuration-space model, which implements FLR, AF
//! FLR, D3hot → D0 and Secondary Bus Reset by putting a function's reset
//! values back.

use crate::Bdf;
use crate::access::{ConfigAccess, ConfigExt};
use crate::model::{FunctionModel, Model, Resets};
use crate::reset::{self, Delay, FLR_WAIT_US, READY_POLL_US, READY_POLLS, ResetError, ResetMethod};

/// A clock that only adds up the time asked of it.
#[derive(Default)]
struct Waits {
    total_us: u64,
    calls: u32,
}

impl Delay for Waits {
    fn delay_us(&mut self, us: u32) {
        self.total_us += u64::from(us);
        self.calls += 1;
    }
}

fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf::new(bus, device, function).unwrap()
}

/// A device register vsva knows nothing of (vendor-specific space): what an
/// owner leaves there must not reach the next one.
const DEVICE_REGISTER: u16 = 0xa0;
/// Device Control in the PCI Express Capability at 0x40.
const DEVICE_CONTROL: usize = 0x48;

/// An endpoint with a 4 KiB memory BAR, a writable device register and,
/// per `caps`, a PCI Express Capability (with FLR if `flr`), an AF
/// Capability and a PM Capability.
fn endpoint(flr: bool, af: bool, pm: Option<u16>) -> FunctionModel {
    let mut f = FunctionModel::endpoint(0x1af4, 0x1042, 0x010802)
        .bar32(0, 0x1000, false)
        .rw(0x04, &[0x07, 0x04])
        .rw(0x0c, &[0xff, 0xff])
        .rw(0x3c, &[0xff])
        .rw(usize::from(DEVICE_REGISTER), &[0xff; 4])
        .capability_list(0x40)
        .capability(0x40, 0x10, 0x60)
        .set16(0x42, 0x0002)
        .set32(0x44, if flr { 1 << 28 } else { 0 })
        .set16(DEVICE_CONTROL, 0x2810)
        .rw(DEVICE_CONTROL, &[0xff, 0xff])
        .capability(0x60, 0x13, 0x70)
        .set(0x62, &[0x06, if af { 0b11 } else { 0 }])
        .rw(0x64, &[0x01]);
    f = match pm {
        Some(pmcsr) => f
            .capability(0x70, 0x01, 0x00)
            .set16(0x72, 0x0003)
            .set16(0x74, pmcsr)
            .rw(0x74, &[0x03, 0x00]),
        None => f.capability(0x70, 0x09, 0x00),
    };
    f
}

fn resets(flr: bool, af: bool, pm: bool) -> Resets {
    Resets {
        flr: flr.then_some(DEVICE_CONTROL),
        af_flr: af.then_some(0x64),
        pm: pm.then_some(0x74),
        not_ready_reads: 0,
    }
}

/// Programs the function as an owner leaves it: BAR placed, decoding and
/// bus mastering on, Max_Payload_Size 256, state in a device register.
fn use_it(model: &Model, f: Bdf) {
    model.write32(f, 0x10, 0x1004_0000);
    model.write16(f, 0x04, 0x0006);
    model.write16(f, DEVICE_CONTROL as u16, 0x2830);
    model.write32(f, DEVICE_REGISTER, 0xdead_beef);
}

/// The state after a reset: the device register back to its reset value,
/// what vsva programmed back (BAR, decoding, payload size), bus mastering off.
fn check_reset_and_restored(model: &Model, f: Bdf) {
    assert_eq!(
        model.read32(f, DEVICE_REGISTER),
        0,
        "the owner's state survived"
    );
    assert_eq!(model.read32(f, 0x10), 0x1004_0000, "BAR not restored");
    assert_eq!(
        model.read16(f, 0x04),
        0x0002,
        "memory decoding on, bus master off"
    );
    assert_eq!(model.read16(f, DEVICE_CONTROL as u16), 0x2830);
}

#[test]
fn the_methods_are_preferred_flr_af_pm_then_a_lone_bus_reset() {
    let cases = [
        ((true, true, Some(0)), None, Some(ResetMethod::Flr)),
        (
            (false, true, Some(0)),
            None,
            Some(ResetMethod::AdvancedFeaturesFlr),
        ),
        (
            (false, false, Some(0)),
            None,
            Some(ResetMethod::PowerManagement),
        ),
        // No_Soft_Reset: D3hot → D0 keeps the state.
        ((false, false, Some(1 << 3)), None, None),
        ((false, false, None), None, None),
        (
            (false, false, None),
            Some(bdf(0, 1, 0)),
            Some(ResetMethod::SecondaryBus {
                bridge: bdf(0, 1, 0),
            }),
        ),
    ];
    for ((flr, af, pm), lone, want) in cases {
        let model = Model::new(0);
        model.add(Model::ROOT, 2, 0, endpoint(flr, af, pm));
        assert_eq!(
            reset::method(&model, bdf(0, 2, 0), lone),
            want,
            "{flr} {af} {pm:?}"
        );
    }
    // AF with FLR but not TP is not used.
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        2,
        0,
        endpoint(false, false, None).set(0x63, &[0b10]),
    );
    assert_eq!(reset::method(&model, bdf(0, 2, 0), None), None);
}

#[test]
fn flr_clears_the_device_and_restores_what_vsva_programmed() {
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        2,
        0,
        endpoint(true, false, None).resets(resets(true, false, false)),
    );
    let f = bdf(0, 2, 0);
    use_it(&model, f);
    let mut waits = Waits::default();
    reset::reset(&model, &mut waits, f, ResetMethod::Flr).unwrap();
    assert_eq!(model.reset_count(Model::ROOT, 2, 0), 1);
    check_reset_and_restored(&model, f);
    assert!(
        waits.total_us >= u64::from(FLR_WAIT_US),
        "{} us",
        waits.total_us
    );
}

#[test]
fn af_flr_and_power_management_reset_too() {
    for (method, r) in [
        (ResetMethod::AdvancedFeaturesFlr, resets(false, true, false)),
        (ResetMethod::PowerManagement, resets(false, false, true)),
    ] {
        let model = Model::new(0);
        model.add(Model::ROOT, 2, 0, endpoint(false, true, Some(0)).resets(r));
        let f = bdf(0, 2, 0);
        use_it(&model, f);
        reset::reset(&model, &mut Waits::default(), f, method).unwrap();
        assert_eq!(model.reset_count(Model::ROOT, 2, 0), 1, "{method:?}");
        check_reset_and_restored(&model, f);
        assert_eq!(model.read16(f, 0x74) & 3, 0, "{method:?}: left in D0");
    }
}

#[test]
fn a_secondary_bus_reset_resets_the_function_below_and_releases_the_bus() {
    let model = Model::new(0);
    let below = model.node();
    model.add_bridge(Model::ROOT, 1, 0, FunctionModel::bridge(), below);
    model.add(below, 0, 0, endpoint(false, false, None));
    model.write32(bdf(0, 1, 0), 0x18, 0x0001_0100);
    let f = bdf(1, 0, 0);
    use_it(&model, f);
    let bridge = bdf(0, 1, 0);
    reset::reset(
        &model,
        &mut Waits::default(),
        f,
        ResetMethod::SecondaryBus { bridge },
    )
    .unwrap();
    assert_eq!(model.reset_count(below, 0, 0), 1);
    check_reset_and_restored(&model, f);
    assert_eq!(
        model.read16(bridge, 0x3e) & (1 << 6),
        0,
        "bus left in reset"
    );
}

#[test]
fn a_function_slow_to_come_back_is_waited_for_within_a_bound() {
    let model = Model::new(0);
    let mut r = resets(true, false, false);
    r.not_ready_reads = 20;
    model.add(Model::ROOT, 2, 0, endpoint(true, false, None).resets(r));
    let f = bdf(0, 2, 0);
    use_it(&model, f);
    reset::reset(&model, &mut Waits::default(), f, ResetMethod::Flr).unwrap();
    check_reset_and_restored(&model, f);

    // One that never answers: a typed error after the bounded wait.
    let model = Model::new(0);
    r.not_ready_reads = u32::MAX;
    model.add(Model::ROOT, 2, 0, endpoint(true, false, None).resets(r));
    use_it(&model, f);
    let mut waits = Waits::default();
    let err = reset::reset(&model, &mut waits, f, ResetMethod::Flr).unwrap_err();
    let most = FLR_WAIT_US + (READY_POLLS + 1) * READY_POLL_US;
    assert_eq!(
        err,
        ResetError::NotReady {
            waited_ms: most / 1000
        }
    );
    assert!(waits.total_us <= u64::from(most) + 10 * u64::from(READY_POLL_US));
}

#[test]
fn another_function_after_the_reset_or_one_stuck_in_d3_is_an_error() {
    // The reset brings back another Device ID than the one vsva saw.
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        2,
        0,
        endpoint(true, false, None).resets(resets(true, false, false)),
    );
    model.poke16(Model::ROOT, 2, 0, 0x02, 0x1043);
    let f = bdf(0, 2, 0);
    assert_eq!(
        reset::reset(&model, &mut Waits::default(), f, ResetMethod::Flr),
        Err(ResetError::Changed)
    );
    // PowerState reads D3hot whatever is written.
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        2,
        0,
        endpoint(false, false, Some(3)).rw(0x74, &[0, 0]),
    );
    assert_eq!(
        reset::reset(
            &model,
            &mut Waits::default(),
            f,
            ResetMethod::PowerManagement
        ),
        Err(ResetError::NotInD0)
    );
}

#[test]
fn pme_status_is_not_cleared_by_the_power_cycle() {
    let model = Model::new(0);
    let f = endpoint(false, false, Some(0x8000))
        .rw1c(0x74, &[0, 0x80])
        .resets(Resets {
            pm: None,
            ..resets(false, false, false)
        });
    model.add(Model::ROOT, 2, 0, f);
    let f = bdf(0, 2, 0);
    reset::reset(
        &model,
        &mut Waits::default(),
        f,
        ResetMethod::PowerManagement,
    )
    .unwrap();
    assert_eq!(model.read16(f, 0x74) & 0x8000, 0x8000);
}

#[test]
fn the_functions_acs_comes_back_and_phantom_functions_stay_off() {
    let model = Model::new(0);
    let f = endpoint(true, false, None)
        .extended(0x100, 0x000d, 1, 0)
        .set16(0x104, 0x1f)
        .rw(0x106, &[0x7f, 0])
        .resets(resets(true, false, false));
    model.add(Model::ROOT, 2, 0, f);
    let f = bdf(0, 2, 0);
    let isolating = crate::group::enable_isolating_acs(&model, f).unwrap();
    assert_eq!(isolating, crate::group::ISOLATING_ACS);
    // Phantom Functions Enable (bit 9) on, as a previous owner may leave it.
    model.write16(f, DEVICE_CONTROL as u16, 0x2830 | 1 << 9);
    reset::reset(&model, &mut Waits::default(), f, ResetMethod::Flr).unwrap();
    assert_eq!(model.reset_count(Model::ROOT, 2, 0), 1);
    let acs = crate::Acs::find(&model, f).unwrap();
    assert_eq!(
        acs.control(&model),
        isolating,
        "ACS isolation lost in the reset"
    );
    assert_eq!(
        model.read16(f, DEVICE_CONTROL as u16),
        0x2830,
        "phantom functions on"
    );
}

/// A PCI Express Root Port: Link Capabilities with Data Link Layer Link
/// Active reporting when `dll`, Link Status as given, Root Capabilities with
/// RRS Software Visibility when `rrs`.
fn root_port(dll: bool, link_status: u16, rrs: bool) -> FunctionModel {
    FunctionModel::bridge()
        .capability_list(0x40)
        .capability(0x40, 0x10, 0)
        .set16(0x42, (0b0100 << 4) | 2)
        .set32(0x4c, if dll { 1 << 20 } else { 0 })
        .set16(0x52, link_status)
        .set16(0x5e, u16::from(rrs))
        .rw(0x5c, &[0x1f, 0])
}

#[test]
fn a_bus_reset_waits_for_the_link_where_the_port_reports_it() {
    let f = bdf(1, 0, 0);
    for (dll, status, extra) in [
        (false, 0, false),      // no reporting: the fixed 100 ms
        (true, 1 << 13, false), // link active at once
        (true, 0, true),        // link down: polled to the bound, then on
    ] {
        let model = Model::new(0);
        let below = model.node();
        model.add_bridge(Model::ROOT, 1, 0, root_port(dll, status, false), below);
        model.add(below, 0, 0, endpoint(false, false, None));
        model.write32(bdf(0, 1, 0), 0x18, 0x0001_0100);
        let mut waits = Waits::default();
        reset::reset(
            &model,
            &mut waits,
            f,
            ResetMethod::SecondaryBus {
                bridge: bdf(0, 1, 0),
            },
        )
        .unwrap();
        let link_polls = u64::from(READY_POLLS) * u64::from(READY_POLL_US);
        let base = u64::from(reset::SBR_HOLD_US + reset::SBR_WAIT_US);
        let expected = if extra { base + link_polls } else { base };
        assert_eq!(waits.total_us, expected, "dll {dll} status {status:#x}");
    }
}

#[test]
fn rrs_visibility_is_turned_on_in_root_ports_that_have_it() {
    let model = Model::new(0);
    model.add(Model::ROOT, 1, 0, root_port(false, 0, true));
    model.add(Model::ROOT, 2, 0, root_port(false, 0, false));
    model.add(Model::ROOT, 3, 0, endpoint(true, false, None));
    let express = |d| crate::PciExpress::find(&model, bdf(0, d, 0)).unwrap();
    assert!(express(1).enable_rrs_visibility(&model));
    assert_eq!(model.read16(bdf(0, 1, 0), 0x5c) & (1 << 4), 1 << 4);
    assert!(!express(2).enable_rrs_visibility(&model));
    assert_eq!(model.read16(bdf(0, 2, 0), 0x5c), 0);
    assert!(!express(3).enable_rrs_visibility(&model), "not a root port");
}
