//! The event queue: overflow and the disabled queue.

use super::*;

#[test]
fn event_queue_overflow_sets_ovflg_until_acknowledged() {
    let fx = Fx::new(SmmuConfig::qemu());
    assert_eq!(fx.m.fill_event_queue(1), 16);
    fx.set_ste(2, ste_abort());
    let ev = fx.event(fx.write(3, None, 0, &[1]));
    assert!(!ev.recorded);
    assert_ne!(fx.m.read32(PAGE1 + EVENTQ_PROD) & Q_OVFLG, 0);
    fx.event(fx.write(3, None, 0, &[1]));
    assert_ne!(fx.m.read32(EVENTQ_PROD) & Q_OVFLG, 0, "no second toggle");
    // Software consumes everything and acknowledges.
    let prod = fx.m.read32(EVENTQ_PROD);
    fx.m.write32(PAGE1 + EVENTQ_CONS, prod);
    assert!(fx.event(fx.write(3, None, 0, &[1])).recorded);
    assert_eq!(fx.m.event_records().len(), 1);
    assert_eq!(fx.m.faults().len(), 3);
}

#[test]
fn events_are_dropped_while_the_event_queue_is_disabled() {
    let fx = Fx::new(SmmuConfig::qemu());
    fx.m.write32(CR0, CR0_SMMUEN | CR0_CMDQEN);
    assert!(!fx.event(fx.write(3, None, 0, &[1])).recorded);
    assert_eq!(fx.m.read32(EVENTQ_PROD), 0);
    let _ = fx.evtq;
}
