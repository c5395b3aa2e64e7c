//! CMD_SYNC completion (§4.7.3) by MSI write or by polling, and the wired interrupt lines
//! (§3.18).

use super::*;

/// CMD_SYNC completion (§4.7.3): with IDR0.MSI the sync's MSI write of its
/// sequence number is what the driver waits for; without it (QEMU) the
/// driver polls CMDQ_CONS and asks for no signal.
#[test]
fn cmd_sync_completes_by_msi_write_where_the_smmu_has_msis() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.sync_completion(), SyncCompletion::MsiWrite);
    let before = rig.model.irqs();
    smmu.invalidate_asid(0, 3).unwrap();
    smmu.invalidate_asid(0, 4).unwrap();
    let after = rig.model.irqs();
    assert_eq!(after.cmd_sync - before.cmd_sync, 2);
    assert_eq!(after.msi_writes - before.msi_writes, 2);
    let syncs: Vec<_> = rig
        .model
        .command_log()
        .into_iter()
        .filter_map(|c| match c {
            model::Command::Sync {
                msi_data, msi_addr, ..
            } => Some((msi_addr, msi_data)),
            _ => None,
        })
        .collect();
    let (addr, last) = *syncs.last().unwrap();
    assert_ne!(addr, 0);
    let mut word = [0u8; 4];
    rig.mem.read(addr, &mut word);
    assert_eq!(
        u32::from_le_bytes(word),
        last,
        "the last sync's number landed"
    );
    assert_eq!(syncs[syncs.len() - 2].1 + 1, last, "numbers increase");

    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    assert_eq!(smmu.sync_completion(), SyncCompletion::ConsumerIndex);
    smmu.invalidate_asid(0, 3).unwrap();
    assert_eq!(rig.model.irqs().cmd_sync, 0);
}

/// Wired interrupts (§3.18): a CMD_SYNC with CS = SIG_IRQ and no MSI
/// address pulses `cmdq-sync`, which is what the driver then waits for; the
/// `eventq` and `gerror` lines stay quiet until IRQ_CTRL enables them.
#[test]
fn wired_interrupts_signal_sync_completion_events_and_global_errors() {
    let rig = Rig::new(SmmuConfig::qemu());
    let mut smmu = rig.smmu(LINEAR);
    let sync_line = rig.model.wired_line(WiredLine::CmdSync);
    smmu.use_sync_interrupt(Some(Box::new(sync_line.clone())));
    assert_eq!(smmu.sync_completion(), SyncCompletion::WiredInterrupt);
    smmu.invalidate_asid(0, 3).unwrap();
    smmu.invalidate_asid(0, 4).unwrap();
    assert_eq!(sync_line.count(), 2, "one pulse per submission");
    let last_sync = rig
        .model
        .command_log()
        .into_iter()
        .rev()
        .find_map(|c| match c {
            model::Command::Sync { cs, msi_addr, .. } => Some((cs, msi_addr)),
            _ => None,
        });
    assert_eq!(last_sync, Some((model::SyncSignal::Irq, 0)));

    // A line that never pulses: the wait ends in a time-out, not early.
    smmu.use_sync_interrupt(Some(Box::new(rig.model.wired_line(WiredLine::PriQueue))));
    assert!(
        matches!(smmu.invalidate_asid(0, 5), Err(SmmuError::TimedOut(_))),
        "completion is awaited on the line given"
    );
    smmu.use_sync_interrupt(None);
    assert_eq!(smmu.sync_completion(), SyncCompletion::ConsumerIndex);
    smmu.invalidate_asid(0, 6).unwrap();

    let events = rig.model.wired_line(WiredLine::EventQueue);
    let gerror = rig.model.wired_line(WiredLine::Gerror);
    let unconfigured = SID + 1;
    assert!(
        rig.model
            .dma_write(unconfigured, None, 0x1000, &[1])
            .is_err()
    );
    assert_eq!(events.count(), 0, "EVENTQ_IRQEN clear");
    smmu.enable_interrupts(IrqCtrl::EVENTQ_IRQEN | IrqCtrl::GERROR_IRQEN)
        .unwrap();
    assert!(
        rig.model
            .dma_write(unconfigured, None, 0x2000, &[1])
            .is_err()
    );
    assert_eq!(events.count(), 1);
    let (recorded, _) = smmu.take_events();
    assert_eq!(
        recorded
            .iter()
            .map(|e| (e.kind, e.stream_id))
            .collect::<Vec<_>>(),
        [
            (event_type::C_BAD_STE, unconfigured),
            (event_type::C_BAD_STE, unconfigured)
        ]
    );
    rig.model.inject(InjectedError::CommandIllegal);
    assert!(matches!(
        smmu.invalidate_asid(0, 1),
        Err(SmmuError::CommandError { code: 1, .. })
    ));
    assert_eq!(gerror.count(), 1, "CMDQ_ERR raised GERROR's line");
}
