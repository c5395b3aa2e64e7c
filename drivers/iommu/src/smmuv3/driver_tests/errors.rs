//! Errors the driver reports and recovers from: refused and aborted commands (§7.1), ATC
//! invalidation time-outs, event queue overflow (§7.4), GERROR (§7.5).

use super::*;

/// CMDQ_ERR (§7.1): a refused command is reported with its CERROR code and
/// its encoding, skipped, and the queue keeps working.
#[test]
fn a_refused_command_is_reported_and_the_queue_recovers() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    rig.model.inject(InjectedError::CommandIllegal);
    let bad = Command::TlbiNhAsid { vmid: 0, asid: 4 };
    match smmu.submit(&[bad]) {
        Err(SmmuError::CommandError { code, command }) => {
            assert_eq!(code, 1, "CERROR_ILL");
            assert_eq!(command, bad.encode());
        }
        other => panic!("expected CommandError, got {other:?}"),
    }
    rig.model.reset_log();
    smmu.submit(&[Command::TlbiNhAsid { vmid: 0, asid: 5 }])
        .unwrap();
    let log = rig.model.command_log();
    assert!(
        log.iter()
            .any(|c| matches!(c, model::Command::TlbiNhAsid { asid: 5, .. })),
        "{log:?}"
    );
}

/// Event queue overflow (§7.4): records lost while the queue was full are
/// reported once, acknowledged, and later events are recorded again.
#[test]
fn event_queue_overflow_is_reported_once_and_acknowledged() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let written = rig.model.fill_event_queue(SID);
    assert!(written > 1);
    // No STE for this stream: C_BAD_STE, dropped on the full queue.
    let other = SID + 1;
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, overflow) = smmu.take_events();
    assert!(overflow, "the lost record is reported");
    assert_eq!(events.len(), written);
    assert!(events.iter().all(|e| e.stream_id == SID));

    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, overflow) = smmu.take_events();
    assert!(!overflow, "acknowledged: not reported twice");
    let kinds: Vec<_> = events.iter().map(|e| (e.kind, e.stream_id)).collect();
    assert_eq!(kinds, [(event_type::C_BAD_STE, other)]);
}

/// Command aborts (CERROR_ABT) and ATC invalidation time-outs
/// (CERROR_ATC_INV_SYNC, reported on the CMD_SYNC after the ATC_INV) are
/// reported with their codes and skipped like illegal commands.
#[test]
fn command_aborts_and_atc_timeouts_are_reported_and_skipped() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    rig.model.inject(InjectedError::CommandAbort);
    match smmu.invalidate_asid(0, 1) {
        Err(SmmuError::CommandError { code, .. }) => assert_eq!(code, 2, "CERROR_ABT"),
        other => panic!("expected CERROR_ABT, got {other:?}"),
    }
    rig.model.inject(InjectedError::AtcInvTimeout);
    let atc = Command::AtcInv {
        sid: SID,
        ssid: None,
        address: 0,
        size: 52,
        global: false,
    };
    match smmu.submit(&[atc]) {
        Err(SmmuError::CommandError { code, command }) => {
            assert_eq!(code, 3, "CERROR_ATC_INV_SYNC");
            assert_eq!(command[0] & 0xff, 0x46, "reported on the CMD_SYNC");
        }
        other => panic!("expected CERROR_ATC_INV_SYNC, got {other:?}"),
    }
    smmu.submit(&[atc]).unwrap();
    smmu.invalidate_asid(0, 1).unwrap();
}

/// GERROR (§7.5): an event record whose write aborts is lost and activates
/// EVENTQ_ABT_ERR; the driver reports it once, acknowledges it, and events
/// are recorded again once the queue's memory is reachable.
#[test]
fn an_aborted_event_write_is_reported_as_a_global_error_once() {
    use crate::hw::RegisterAccess;
    use crate::smmuv3::regs::{EVENTQ_BASE, Gerror};
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.take_global_errors(), Gerror::empty());
    let base = rig.model.read64(EVENTQ_BASE) & 0x000f_ffff_ffff_ffe0;
    rig.model.add_external_abort(base..base + (1 << 20));
    let other = SID + 1;
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, _) = smmu.take_events();
    assert!(events.is_empty(), "{events:x?}");
    assert_eq!(smmu.take_global_errors(), Gerror::EVENTQ_ABT_ERR);
    assert_eq!(smmu.take_global_errors(), Gerror::empty(), "acknowledged");

    rig.model.clear_external_aborts();
    assert!(rig.model.dma_write(other, None, 0x1000, &[1]).is_err());
    let (events, _) = smmu.take_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, event_type::C_BAD_STE);
    assert_eq!(smmu.take_global_errors(), Gerror::empty());
}
