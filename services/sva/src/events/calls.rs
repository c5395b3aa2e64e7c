//! The two event calls: `EventQueue` (register, unregister, read the
//! counters) and `PageResponse` (answer one open request).

use vsva_abi::HvError;
use vsva_abi::sva::{EventQueue, PageResponse, QueueOp, ResponseCode, ResponseFlags};

use crate::backend::Backend;
use crate::calls::{Caller, hv};

pub(crate) fn event_queue<U: Backend>(
    c: &mut Caller<'_, U>,
    mut args: EventQueue,
) -> Result<u64, HvError> {
    let op = QueueOp::from_raw(args.op).ok_or(HvError::BadArgument)?;
    let ring_fields = args.ring != 0 || args.entries != 0 || args.intid != 0;
    if args.reserved != 0 || (op != QueueOp::Register && ring_fields) {
        return Err(HvError::BadArgument);
    }
    let p = c.sva.partitions.get_mut(&c.id).ok_or(HvError::NotFound)?;
    match op {
        QueueOp::Query => {}
        QueueOp::Register => {
            let ram = p.domain.ram;
            p.events
                .register(&ram, c.guest, args.ring, args.entries, args.intid)?;
        }
        QueueOp::Unregister => p.events.unregister(),
    }
    let counters = p.events.counters();
    args.dropped = counters.dropped;
    args.lost = counters.lost;
    args.open_requests = counters.open_requests;
    c.reply(&args)?;
    Ok(0)
}

pub(crate) fn page_response<U: Backend>(
    c: &mut Caller<'_, U>,
    args: PageResponse,
) -> Result<u64, HvError> {
    let flags = ResponseFlags::from_bits(args.flags).ok_or(HvError::BadArgument)?;
    let code = ResponseCode::from_raw(args.code).ok_or(HvError::BadArgument)?;
    let stall = flags.contains(ResponseFlags::STALL);
    // A PRG index is 9 bits (PCIe §10.4.1), a stall tag 16 (SMMUv3 §7.3).
    let group_bits = if stall { 16 } else { 9 };
    let pasid = flags.contains(ResponseFlags::PASID).then_some(args.pasid);
    if (pasid.is_none() && args.pasid != 0)
        || args.pasid >> 20 != 0
        || args.group >> group_bits != 0
    {
        return Err(HvError::BadArgument);
    }
    let p = c.sva.partitions.get_mut(&c.id).ok_or(HvError::NotFound)?;
    p.device(args.device).ok_or(HvError::NotFound)?;
    let open = p
        .events
        .open
        .take(args.device, pasid, args.group, stall)
        .ok_or(HvError::NotFound)?;
    let unit = c
        .sva
        .units
        .get_mut(open.unit)
        .and_then(Option::as_mut)
        .ok_or(HvError::NotFound)?;
    unit.answer(&open.request, code).map_err(hv)?;
    Ok(0)
}
