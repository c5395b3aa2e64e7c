//! Scenario tests against the configuration-space model.

use crate::access::ConfigExt;
use crate::assign::enable_upstream_bus_master;
use crate::capability::CapabilityError;
use crate::enumerate::{BridgeBuses, SkipReason};
use crate::express::{DeviceControl, DevicePortType};
use crate::header::offset;
use crate::model::{FunctionModel, Model};
use crate::pri::PriStatus;
use crate::*;

fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
    Bdf::new(bus, device, function).unwrap()
}

fn options() -> EnumerationOptions {
    EnumerationOptions {
        segment: 0,
        buses: BusRange::ALL,
        assign_bus_numbers: true,
    }
}

/// The host bridge windows of QEMU's aarch64 `virt` machine (its DTB `ranges`).
fn qemu_virt_windows() -> [Window; 3] {
    [
        Window {
            kind: WindowKind::Io,
            cpu_base: 0x3eff_0000,
            pci_base: 0,
            size: 0x1_0000,
        },
        Window {
            kind: WindowKind::Mem32,
            cpu_base: 0x1000_0000,
            pci_base: 0x1000_0000,
            size: 0x2eff_0000,
        },
        Window {
            kind: WindowKind::Mem64,
            cpu_base: 0x80_0000_0000,
            pci_base: 0x80_0000_0000,
            size: 0x80_0000_0000,
        },
    ]
}

/// QEMU's `edu` device: 1234:11e8, class 00ff00, a 1 MiB 32-bit BAR0 and an
/// MSI capability.
fn edu() -> FunctionModel {
    FunctionModel::endpoint(0x1234, 0x11e8, 0x00ff00)
        .bar32(0, 0x10_0000, false)
        .capability_list(0x40)
        .capability(0x40, 0x05, 0)
        .rw(0x42, &[0x01, 0x00])
}

#[test]
fn edu_is_found_and_its_bar_assigned_from_the_32_bit_window() {
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        0,
        0,
        FunctionModel::endpoint(0x1b36, 0x0008, 0x060000),
    );
    model.add(Model::ROOT, 3, 0, edu());
    let mut scan = enumerate(&model, &options());
    assert!(scan.skipped.is_empty());
    let edu = scan.function(bdf(0, 3, 0)).unwrap();
    assert_eq!((edu.vendor_id, edu.device_id), (0x1234, 0x11e8));
    assert_eq!(
        edu.class,
        ClassCode {
            base: 0x00,
            sub: 0xff,
            prog_if: 0x00
        }
    );
    assert_eq!(
        edu.bars,
        [Bar {
            index: 0,
            kind: BarKind::Memory32,
            prefetchable: false,
            address: 0,
            size: 0x10_0000
        }]
    );
    assert_eq!(
        edu.capabilities,
        [Capability {
            id: CapabilityId::Msi,
            offset: 0x40
        }]
    );
    assert!(edu.extended_capabilities.is_empty());

    let windows = qemu_virt_windows();
    let report = assign_resources(&model, &mut scan.functions, &windows);
    assert!(report.failed.is_empty());
    let bar = scan.function(bdf(0, 3, 0)).unwrap().bars[0];
    assert_eq!(bar.address, 0x1000_0000);
    assert_eq!(model.peek32(Model::ROOT, 3, 0, 0x10), 0x1000_0000);
    assert_eq!(
        report.placed,
        [Placed {
            bdf: bdf(0, 3, 0),
            resource: Resource::Bar(0),
            pci_address: 0x1000_0000,
            cpu_address: 0x1000_0000,
            size: 0x10_0000
        }]
    );

    let command = enable(&model, bdf(0, 3, 0), true, false, true);
    assert_eq!(command, Command::MEMORY_SPACE | Command::BUS_MASTER);
    assert_eq!(model.peek32(Model::ROOT, 3, 0, 0x04) & 0xffff, 0x0006);
}

#[test]
fn a_command_write_never_clears_status_error_bits() {
    let model = Model::new(0);
    model.add(Model::ROOT, 1, 0, edu());
    let errors: u32 = 0x2000 | 0x8000; // Received Master Abort, Detected Parity Error.
    model.poke16(Model::ROOT, 1, 0, 0x06, 0x0010 | errors as u16);
    enable(&model, bdf(0, 1, 0), true, true, true);
    let status = model.peek32(Model::ROOT, 1, 0, 0x04) >> 16;
    assert_eq!(status, 0x0010 | errors, "Command write cleared Status bits");

    // Writing Status itself clears exactly the bits given and keeps Command.
    model.write16(
        bdf(0, 1, 0),
        offset::STATUS,
        Status::RECEIVED_MASTER_ABORT.bits(),
    );
    let dword = model.peek32(Model::ROOT, 1, 0, 0x04);
    assert_eq!(dword >> 16, 0x0010 | 0x8000);
    assert_eq!(dword & 0xffff, 0x0007);

    // Byte writes follow the same rule.
    model.write8(bdf(0, 1, 0), offset::COMMAND, 0);
    assert_eq!(model.peek32(Model::ROOT, 1, 0, 0x04) >> 16, 0x0010 | 0x8000);
}

#[test]
fn bridge_io_window_writes_keep_secondary_status() {
    let model = Model::new(0);
    let behind = model.node();
    model.add_bridge(
        Model::ROOT,
        1,
        0,
        FunctionModel::bridge().buses(0, 1, 1),
        behind,
    );
    model.poke16(Model::ROOT, 1, 0, 0x1e, 0x2000);
    model.write16(bdf(0, 1, 0), offset::IO_BASE, 0x20_10);
    let dword = model.peek32(Model::ROOT, 1, 0, 0x1c);
    assert_eq!(dword, 0x2000_2010);
}

/// An endpoint with MSI, PCI Express and MSI-X capabilities, and ATS, PASID,
/// PRI and ACS extended capabilities.
fn svm_endpoint() -> FunctionModel {
    FunctionModel::endpoint(0x8086, 0x0b25, 0x088000)
        .bar64(0, 0x20_0000, true)
        .capability_list(0x40)
        // MSI, 64-bit, 4 vectors capable.
        .capability(0x40, 0x05, 0x60)
        .set16(0x42, 0x0084)
        .rw(0x42, &[0x71, 0x00])
        .rw(
            0x44,
            &[0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        )
        // PCI Express v2, Endpoint; MPS supported 512; link x8 gen4.
        .capability(0x60, 0x10, 0x80)
        .set16(0x62, 0x0002)
        .set32(0x64, 0x0000_0002)
        .rw(0x68, &[0xff, 0xff])
        .rw1c(0x6a, &[0x4f, 0x00])
        .set32(0x6c, 0x0300_0084)
        .rw(0x70, &[0xff, 0x0f])
        .set16(0x72, 0x1043)
        .rw1c(0x72, &[0x00, 0xc0])
        // MSI-X: 64 entries, table in BAR0 at 0x2000, PBA in BAR0 at 0x3000.
        .capability(0x80, 0x11, 0x00)
        .set16(0x82, 63)
        .rw(0x82, &[0x00, 0xc0])
        .set32(0x84, 0x2000)
        .set32(0x88, 0x3000)
        // ATS (queue depth 0 = 32, page aligned) -> PASID -> PRI -> ACS.
        .extended(0x100, 0x000f, 1, 0x110)
        .set16(0x104, 0x0020)
        .rw(0x106, &[0x1f, 0x80])
        .extended(0x110, 0x001b, 1, 0x120)
        .set16(0x114, 0x1406)
        .rw(0x116, &[0x07, 0x00])
        .extended(0x120, 0x0013, 1, 0x140)
        .rw(0x124, &[0x03, 0x00])
        .rw1c(0x126, &[0x03, 0x00])
        .set16(0x126, 0x0100)
        .set32(0x128, 512)
        .rw(0x12c, &[0xff; 4])
        .extended(0x140, 0x000d, 1, 0)
        .set16(0x144, 0x001f)
        .rw(0x146, &[0x7f, 0x00])
}

#[test]
fn capability_chain_and_typed_views() {
    let model = Model::new(0);
    model.add(Model::ROOT, 2, 0, svm_endpoint());
    let scan = enumerate(&model, &options());
    let f = scan.function(bdf(0, 2, 0)).unwrap();
    let ids: Vec<_> = f.capabilities.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            CapabilityId::Msi,
            CapabilityId::PciExpress,
            CapabilityId::MsiX
        ]
    );
    let ext: Vec<_> = f
        .extended_capabilities
        .iter()
        .map(|c| (c.id, c.offset))
        .collect();
    assert_eq!(
        ext,
        [
            (ExtendedCapabilityId::AddressTranslationServices, 0x100),
            (ExtendedCapabilityId::ProcessAddressSpaceId, 0x110),
            (ExtendedCapabilityId::PageRequest, 0x120),
            (ExtendedCapabilityId::AccessControlServices, 0x140),
        ]
    );
    let d = f.bdf;

    let express = PciExpress::find(&model, d).unwrap();
    assert_eq!(express.device_port_type(&model), DevicePortType::Endpoint);
    assert_eq!(express.version(&model), 2);
    assert_eq!(express.max_payload_size_supported(&model), 512);
    assert_eq!(
        express.link_capabilities(&model),
        crate::express::Link { speed: 4, width: 8 }
    );
    assert_eq!(
        express.link_status(&model),
        crate::express::Link { speed: 3, width: 4 }
    );

    let msix = MsiX::find(&model, d).unwrap();
    assert_eq!(msix.table_size(&model), 64);
    assert_eq!(
        msix.table(&model),
        crate::msi::MsiXLocation {
            bir: 0,
            offset: 0x2000
        }
    );
    assert_eq!(
        msix.pba(&model),
        crate::msi::MsiXLocation {
            bir: 0,
            offset: 0x3000
        }
    );
    msix.set_enable(&model, true, true);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x80) >> 16, 0xc000 | 63);

    let msi = Msi::find(&model, d).unwrap();
    assert_eq!(msi.vectors_capable(&model), 4);
    assert!(msi.configure(&model, 0x1_fee0_0000, 0x41));
    msi.set_enable(&model, true);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x44), 0xfee0_0000);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x48), 0x1);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x4c) & 0xffff, 0x41);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x40) >> 16 & 1, 1);

    let ats = Ats::find(&model, d).unwrap();
    assert_eq!(ats.invalidate_queue_depth(&model), 32);
    assert!(
        ats.capability(&model)
            .contains(crate::ats::AtsCapability::PAGE_ALIGNED_REQUEST)
    );
    assert!(!ats.enable(&model, 0x20));
    assert!(ats.enable(&model, 3));
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x104) >> 16, 0x8003);
    ats.disable(&model);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x104) >> 16, 0x0003);

    let pasid = Pasid::find(&model, d).unwrap();
    assert_eq!(pasid.max_pasid_width(&model), 20);
    let control = pasid.enable(&model, true, false);
    assert_eq!(control.bits(), 0b011);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x114) >> 16, 0b011);
    pasid.disable(&model);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x114) >> 16, 0);

    let acs = Acs::find(&model, d).unwrap();
    assert_eq!(acs.capability(&model).bits(), 0x1f);
    let set = acs.set_control(&model, AcsFlags::all());
    assert_eq!(set.bits(), 0x1f);
    assert_eq!(acs.control(&model), set);
}

#[test]
fn pri_enable_keeps_status_and_clear_status_clears_one_bit() {
    let model = Model::new(0);
    model.add(Model::ROOT, 2, 0, svm_endpoint());
    let pri = Pri::find(&model, bdf(0, 2, 0)).unwrap();
    // The device reports Response Failure and UPRGI; Stopped is set.
    model.poke16(Model::ROOT, 2, 0, 0x126, 0x0103);
    assert_eq!(pri.capacity(&model), 512);
    assert_eq!(pri.enable(&model, 1000), 512);
    assert_eq!(pri.allocation(&model), 512);
    assert_eq!(pri.control(&model), crate::pri::PriControl::ENABLE);
    assert_eq!(
        pri.status(&model).bits(),
        0x0103,
        "a control write cleared PRI status"
    );
    pri.clear_status(&model, PriStatus::RESPONSE_FAILURE);
    assert_eq!(pri.status(&model).bits(), 0x0102);
    assert_eq!(pri.control(&model), crate::pri::PriControl::ENABLE);
    pri.disable(&model);
    assert!(pri.control(&model).is_empty());
}

#[test]
fn pcie_control_writes_keep_device_and_link_status() {
    let model = Model::new(0);
    model.add(Model::ROOT, 2, 0, svm_endpoint());
    let express = PciExpress::find(&model, bdf(0, 2, 0)).unwrap();
    model.poke16(Model::ROOT, 2, 0, 0x6a, 0x0009);
    model.poke16(Model::ROOT, 2, 0, 0x72, 0xc043);
    express.set_device_control(
        &model,
        DeviceControl::RELAXED_ORDERING | DeviceControl::EXTENDED_TAG,
    );
    model.write16(bdf(0, 2, 0), 0x70, 0x0040);
    assert_eq!(express.device_status(&model).bits(), 0x0009);
    assert_eq!(model.peek32(Model::ROOT, 2, 0, 0x70) >> 16, 0xc043);
    assert_eq!(express.max_payload_size(&model), 128);
}

#[test]
fn a_looping_capability_chain_terminates() {
    let model = Model::new(0);
    let looping = FunctionModel::endpoint(0x1af4, 0x1000, 0x020000)
        .capability_list(0x40)
        .capability(0x40, 0x09, 0x50)
        .capability(0x50, 0x05, 0x40)
        .extended(0x100, 0x0001, 1, 0x180)
        .extended(0x180, 0x000f, 1, 0x100);
    model.add(Model::ROOT, 0, 0, looping);
    let mut walk = capabilities(&model, bdf(0, 0, 0));
    assert_eq!(walk.by_ref().count(), 2);
    assert_eq!(walk.error(), Some(CapabilityError::Loop { offset: 0x40 }));
    let mut walk = extended_capabilities(&model, bdf(0, 0, 0));
    assert_eq!(walk.by_ref().count(), 2);
    assert_eq!(walk.error(), Some(CapabilityError::Loop { offset: 0x100 }));
    // A self-loop and a pointer into the header stop too.
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        0,
        0,
        FunctionModel::endpoint(1, 2, 0)
            .capability_list(0x40)
            .capability(0x40, 0x01, 0x40),
    );
    model.add(
        Model::ROOT,
        1,
        0,
        FunctionModel::endpoint(1, 2, 0)
            .capability_list(0x40)
            .capability(0x40, 0x01, 0x10),
    );
    let scan = enumerate(&model, &options());
    assert_eq!(scan.functions[0].capabilities.len(), 1);
    let mut walk = capabilities(&model, bdf(0, 1, 0));
    assert_eq!(walk.by_ref().count(), 1);
    assert_eq!(
        walk.error(),
        Some(CapabilityError::BadPointer { pointer: 0x10 })
    );
}

#[test]
fn port_io_access_never_walks_extended_capabilities() {
    // The model panics on any access beyond offset 0xff.
    let model = Model::port_io();
    model.add(Model::ROOT, 2, 0, svm_endpoint());
    let scan = enumerate(&model, &options());
    let f = scan.function(bdf(0, 2, 0)).unwrap();
    assert_eq!(f.capabilities.len(), 3);
    assert!(f.extended_capabilities.is_empty());
    // W1C-safe writes above the header walk only the standard list.
    model.write16(bdf(0, 2, 0), 0x68, 0);
}

#[test]
fn multi_function_devices_are_scanned_only_when_declared() {
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        4,
        0,
        FunctionModel::endpoint(0x8086, 1, 0x0c0300).header_type(0x80),
    );
    model.add(
        Model::ROOT,
        4,
        1,
        FunctionModel::endpoint(0x8086, 2, 0x0c0300),
    );
    model.add(
        Model::ROOT,
        4,
        5,
        FunctionModel::endpoint(0x8086, 3, 0x0c0320),
    );
    // Not multi-function: its function 2 must not be reported.
    model.add(
        Model::ROOT,
        5,
        0,
        FunctionModel::endpoint(0x8086, 4, 0x010601),
    );
    model.add(
        Model::ROOT,
        5,
        2,
        FunctionModel::endpoint(0x8086, 5, 0x010601),
    );
    // No function 0: functions 1.. are not probed.
    model.add(
        Model::ROOT,
        6,
        1,
        FunctionModel::endpoint(0x8086, 6, 0x010601),
    );
    let scan = enumerate(&model, &options());
    let found: Vec<_> = scan.functions.iter().map(|f| f.bdf).collect();
    assert_eq!(
        found,
        [bdf(0, 4, 0), bdf(0, 4, 1), bdf(0, 4, 5), bdf(0, 5, 0)]
    );
    assert!(scan.functions[0].header_type.multi_function());
}

#[test]
fn unconfigured_bridges_are_numbered_depth_first() {
    let model = Model::new(0);
    let bus_a = model.node();
    let bus_b = model.node();
    let bus_c = model.node();
    model.add_bridge(Model::ROOT, 1, 0, FunctionModel::bridge(), bus_a);
    model.add(
        bus_a,
        0,
        0,
        FunctionModel::endpoint(0x1af4, 0x1041, 0x020000).bar32(1, 0x1000, false),
    );
    model.add_bridge(bus_a, 1, 0, FunctionModel::bridge(), bus_b);
    model.add(bus_b, 0, 0, edu());
    model.add_bridge(Model::ROOT, 2, 0, FunctionModel::bridge(), bus_c);
    model.add(
        bus_c,
        0,
        0,
        FunctionModel::endpoint(0x1af4, 0x1042, 0x010000),
    );

    let scan = enumerate(&model, &options());
    assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
    let found: Vec<_> = scan.functions.iter().map(|f| (f.bdf, f.parent)).collect();
    assert_eq!(
        found,
        [
            (bdf(0, 1, 0), None),
            (bdf(1, 0, 0), Some(bdf(0, 1, 0))),
            (bdf(1, 1, 0), Some(bdf(0, 1, 0))),
            (bdf(2, 0, 0), Some(bdf(1, 1, 0))),
            (bdf(0, 2, 0), None),
            (bdf(3, 0, 0), Some(bdf(0, 2, 0))),
        ]
    );
    let buses = |node, device| model.peek32(node, device, 0, 0x18) & 0xff_ffff;
    assert_eq!(buses(Model::ROOT, 1), 0x02_01_00);
    assert_eq!(buses(bus_a, 1), 0x02_02_01);
    assert_eq!(buses(Model::ROOT, 2), 0x03_03_00);
    assert_eq!(
        scan.function(bdf(0, 1, 0)).unwrap().bridge,
        Some(BridgeBuses {
            primary: 0,
            secondary: 1,
            subordinate: 2
        })
    );
    assert_eq!(scan.function(bdf(2, 0, 0)).unwrap().device_id, 0x11e8);
}

#[test]
fn firmware_numbered_bridges_are_followed_and_new_numbers_come_after() {
    let model = Model::new(0);
    let configured = model.node();
    let fresh = model.node();
    model.add_bridge(
        Model::ROOT,
        1,
        0,
        FunctionModel::bridge().buses(0, 5, 7),
        configured,
    );
    model.add(configured, 0, 0, edu());
    model.add_bridge(Model::ROOT, 2, 0, FunctionModel::bridge(), fresh);
    model.add(fresh, 0, 0, edu());
    let scan = enumerate(&model, &options());
    assert!(scan.skipped.is_empty());
    assert!(scan.function(bdf(5, 0, 0)).is_some());
    assert!(scan.function(bdf(8, 0, 0)).is_some());
    assert_eq!(
        model.peek32(Model::ROOT, 1, 0, 0x18) & 0xff_ffff,
        0x07_05_00
    );

    // Without assignment the fresh bridge is reported, not scanned.
    let model2 = Model::new(0);
    let fresh = model2.node();
    model2.add_bridge(Model::ROOT, 2, 0, FunctionModel::bridge(), fresh);
    model2.add(fresh, 0, 0, edu());
    let scan = enumerate(
        &model2,
        &EnumerationOptions {
            assign_bus_numbers: false,
            ..options()
        },
    );
    assert_eq!(scan.functions.len(), 1);
    assert_eq!(scan.skipped[0].reason, SkipReason::Unconfigured);
}

#[test]
fn bridge_loops_terminate_with_skips() {
    // Bridge on bus 1 claims bus 1 again; a second root bridge claims bus 1
    // too; a bridge behind leads back to the root node as bus 2.
    let model = Model::new(0);
    let bus1 = model.node();
    model.add_bridge(
        Model::ROOT,
        1,
        0,
        FunctionModel::bridge().buses(0, 1, 2),
        bus1,
    );
    model.add_bridge(
        Model::ROOT,
        2,
        0,
        FunctionModel::bridge().buses(0, 1, 1),
        bus1,
    );
    model.add_bridge(bus1, 0, 0, FunctionModel::bridge().buses(1, 1, 1), bus1);
    model.add_bridge(
        bus1,
        1,
        0,
        FunctionModel::bridge().buses(1, 2, 2),
        Model::ROOT,
    );
    let scan = enumerate(&model, &options());
    let reasons: Vec<_> = scan.skipped.iter().map(|s| (s.bridge, s.reason)).collect();
    assert_eq!(
        reasons,
        [
            (bdf(1, 0, 0), SkipReason::SecondaryNotAbove),
            (bdf(2, 1, 0), SkipReason::SecondaryNotAbove),
            (bdf(2, 2, 0), SkipReason::SecondaryNotAbove),
            (bdf(0, 2, 0), SkipReason::AlreadyVisited),
        ]
    );
    // Bus 2 is the root node seen again: its two bridges, then bus 1's.
    assert_eq!(scan.functions.len(), 6);

    // An unconfigured bridge looping back to the root is numbered once and
    // the loop stops where numbers are already in use.
    let model = Model::new(0);
    model.add_bridge(Model::ROOT, 1, 0, FunctionModel::bridge(), Model::ROOT);
    let scan = enumerate(&model, &options());
    assert!(scan.functions.len() < 600);
    assert!(!scan.skipped.is_empty());
}

#[test]
fn bus_numbers_run_out_inside_the_range() {
    let model = Model::new(0);
    let a = model.node();
    let b = model.node();
    model.add_bridge(Model::ROOT, 1, 0, FunctionModel::bridge(), a);
    model.add_bridge(Model::ROOT, 2, 0, FunctionModel::bridge(), b);
    let scan = enumerate(
        &model,
        &EnumerationOptions {
            buses: BusRange::new(0, 1).unwrap(),
            ..options()
        },
    );
    assert_eq!(scan.skipped.len(), 1);
    assert_eq!(scan.skipped[0].bridge, bdf(0, 2, 0));
    assert_eq!(scan.skipped[0].reason, SkipReason::NoBusNumberLeft);
}

#[test]
fn bars_are_sized_with_decoding_disabled_and_restored() {
    let model = Model::new(0);
    let device = FunctionModel::endpoint(0x1af4, 0x1000, 0x020000)
        .io_bar(0, 0x20)
        .bar32(1, 0x1000, false)
        .bar64(2, 0x4_0000_0000, true)
        .bar32(5, 0x10, true)
        .set32(0x10, 0xc001)
        .set32(0x14, 0xfebf_1000)
        .set16(0x04, 0x0007);
    model.add(Model::ROOT, 0, 0, device);
    let scan = enumerate(&model, &options());
    assert_eq!(model.sizing_while_decoding(), []);
    let bars = &scan.functions[0].bars;
    let kinds: Vec<_> = bars
        .iter()
        .map(|b| (b.index, b.kind, b.prefetchable, b.address, b.size))
        .collect();
    assert_eq!(
        kinds,
        [
            (0, BarKind::Io, false, 0xc000, 0x20),
            (1, BarKind::Memory32, false, 0xfebf_1000, 0x1000),
            (2, BarKind::Memory64, true, 0, 0x4_0000_0000),
            (5, BarKind::Memory32, true, 0, 0x10),
        ]
    );
    // Command and the BARs are as before.
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x04) & 0xffff, 0x0007);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x10), 0xc001);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x14), 0xfebf_1000);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x18), 0x0000_000c);
}

#[test]
fn bridges_have_two_bars_and_a_bad_bar_is_reported() {
    let model = Model::new(0);
    let behind = model.node();
    model.add_bridge(
        Model::ROOT,
        1,
        0,
        FunctionModel::bridge()
            .bar32(0, 0x4000, false)
            .buses(0, 1, 1),
        behind,
    );
    // Memory type 11b is reserved.
    model.add(
        behind,
        0,
        0,
        FunctionModel::endpoint(1, 2, 0).set32(0x10, 0x6),
    );
    let scan = enumerate(&model, &options());
    assert_eq!(scan.functions[0].bars.len(), 1);
    assert_eq!(
        scan.functions[1].bar_errors,
        [crate::bar::BarError::ReservedType { index: 0 }]
    );
}

#[test]
fn root_bus_assignment_keeps_firmware_bars_and_packs_biggest_first() {
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        0,
        0,
        FunctionModel::endpoint(1, 1, 0)
            .bar32(0, 0x1000, false)
            .bar32(1, 0x10_0000, false)
            .bar64(2, 0x1_0000, true)
            .io_bar(4, 0x100)
            .set32(0x10, 0x1000_0000),
    );
    model.add(
        Model::ROOT,
        1,
        0,
        FunctionModel::endpoint(1, 2, 0).bar32(0, 0x200_0000, false),
    );
    let mut scan = enumerate(&model, &options());
    let windows = qemu_virt_windows();
    let report = assign_resources(&model, &mut scan.functions, &windows);
    assert!(report.failed.is_empty());
    let addr = |d: u8, i: u8| scan.function(bdf(0, d, 0)).unwrap().bar(i).unwrap().address;
    assert_eq!(addr(0, 0), 0x1000_0000, "firmware BAR moved");
    assert_eq!(addr(1, 0), 0x1200_0000);
    assert_eq!(addr(0, 1), 0x1010_0000);
    assert_eq!(addr(0, 2), 0x80_0000_0000);
    assert_eq!(addr(0, 4), 0x1000);
    let io = report
        .placed
        .iter()
        .find(|p| p.resource == Resource::Bar(4))
        .unwrap();
    assert_eq!(io.cpu_address, 0x3eff_1000);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x18), 0x0000_000c);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x1c), 0x80);
    assert_eq!(model.peek32(Model::ROOT, 0, 0, 0x20), 0x1001);
}

#[test]
fn devices_behind_an_unconfigured_bridge_get_windows_and_addresses() {
    let model = Model::new(0);
    let behind = model.node();
    model.add_bridge(Model::ROOT, 1, 0, FunctionModel::bridge(), behind);
    model.add(behind, 0, 0, edu());
    model.add(
        behind,
        1,
        0,
        FunctionModel::endpoint(1, 3, 0)
            .bar64(0, 0x40_0000, true)
            .io_bar(2, 0x40),
    );
    model.add(
        Model::ROOT,
        2,
        0,
        FunctionModel::endpoint(1, 4, 0).bar32(0, 0x1000, false),
    );
    let mut scan = enumerate(&model, &options());
    let report = assign_resources(&model, &mut scan.functions, &qemu_virt_windows());
    assert!(report.failed.is_empty(), "{:?}", report.failed);

    // Bridge memory window 0x10000000..=0x100fffff holds edu's BAR0; the
    // prefetchable 64-bit window is in the 64-bit host window; I/O at 0x1000.
    let bridge = |o| model.peek32(Model::ROOT, 1, 0, o);
    assert_eq!(bridge(0x20), 0x1000_1000);
    assert_eq!(bridge(0x24), 0x0031_0001);
    assert_eq!((bridge(0x28), bridge(0x2c)), (0x80, 0x80));
    assert_eq!(bridge(0x1c) & 0xffff, 0x1010);
    assert_eq!(bridge(0x04) & 0x3, 0x3, "bridge forwarding not enabled");
    let addr = |b: u8, d: u8, i: u8| scan.function(bdf(b, d, 0)).unwrap().bar(i).unwrap().address;
    assert_eq!(addr(1, 0, 0), 0x1000_0000);
    assert_eq!(addr(1, 1, 0), 0x80_0000_0000);
    assert_eq!(addr(1, 1, 2), 0x1000);
    assert_eq!(addr(0, 2, 0), 0x1010_0000);
    assert_eq!(model.peek32(behind, 1, 0, 0x14), 0x80);

    enable(&model, bdf(1, 0, 0), true, false, true);
    enable_upstream_bus_master(&model, &scan.functions, bdf(1, 0, 0));
    assert_eq!(bridge(0x04) & 0x7, 0x7);
}

#[test]
fn a_full_window_reports_what_did_not_fit() {
    let model = Model::new(0);
    model.add(
        Model::ROOT,
        0,
        0,
        FunctionModel::endpoint(1, 1, 0).bar32(0, 0x100_0000, false),
    );
    model.add(Model::ROOT, 1, 0, edu());
    let mut scan = enumerate(&model, &options());
    let small = [Window {
        kind: WindowKind::Mem32,
        cpu_base: 0x4000_0000,
        pci_base: 0x100_0000,
        size: 0x100_0000,
    }];
    let report = assign_resources(&model, &mut scan.functions, &small);
    assert_eq!(report.placed.len(), 1);
    assert_eq!(report.placed[0].cpu_address, 0x4000_0000);
    assert_eq!(report.failed, [(bdf(0, 1, 0), Resource::Bar(0))]);
    assert!(!scan.functions[1].bars[0].is_assigned());
}

#[test]
fn absent_functions_read_all_ones_and_an_empty_bus_is_empty() {
    let model = Model::new(0);
    assert_eq!(model.read16(bdf(0, 0, 0), 0), 0xffff);
    assert_eq!(capabilities(&model, bdf(0, 0, 0)).count(), 0);
    let scan = enumerate(&model, &options());
    assert!(scan.functions.is_empty() && scan.skipped.is_empty());
}
