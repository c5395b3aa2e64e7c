//! aarch64 discovery from the flattened device tree (Devicetree Specification
//! v0.4; bindings: `arm,smmu-v3`, `pci-host-ecam-generic`, `arm,gic-v3`, and the
//! PCI `iommu-map` / `msi-map` of Linux's `pci-iommu.yaml` / `pci-msi.yaml`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use fdt::Fdt;
use fdt::node::FdtNode;
use log::{info, warn};
use vsva_boot::BootInfo;

use vsva_pci::{Window, WindowKind};

use super::{Coverage, DiscoveryError, EcamWindow, IdMapping, IommuKind, IommuUnit, Platform};
use crate::arch;

/// GIC interrupt specifier: SPI numbers start at INTID 32, PPIs at 16.
fn gic_intid(cells: &[u32]) -> Option<u32> {
    match cells {
        [0, n, _] => Some(n + 32),
        [1, n, _] => Some(n + 16),
        _ => None,
    }
}

fn be32s(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn cells_u64(cells: &[u32]) -> u64 {
    cells.iter().fold(0u64, |a, &c| (a << 32) | u64::from(c))
}

fn reg_first(node: &FdtNode<'_, '_>) -> Option<(u64, u64)> {
    let r = node.reg()?.next()?;
    Some((r.starting_address as u64, r.size.unwrap_or(0) as u64))
}

/// `interrupts` with `interrupt-names`, as GIC INTIDs.
fn named_interrupts(node: &FdtNode<'_, '_>) -> Vec<(String, u32)> {
    let cells = node
        .property("interrupts")
        .map(|p| be32s(p.value))
        .unwrap_or_default();
    let names: Vec<&str> = node
        .property("interrupt-names")
        .map(|p| {
            p.value
                .split(|&b| b == 0)
                .filter_map(|n| core::str::from_utf8(n).ok())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    cells
        .chunks_exact(3)
        .enumerate()
        .filter_map(|(i, c)| {
            let name = names
                .get(i)
                .map_or_else(|| format!("irq{i}"), |n| String::from(*n));
            Some((name, gic_intid(c)?))
        })
        .collect()
}

/// `iommu-map` / `msi-map`: (rid-base, phandle, output-base, length) quadruples.
fn id_map(node: &FdtNode<'_, '_>, property: &str) -> Vec<(u32, u32, u32, u32)> {
    node.property(property)
        .map(|p| {
            be32s(p.value)
                .chunks_exact(4)
                .map(|c| (c[0], c[1], c[2], c[3]))
                .collect()
        })
        .unwrap_or_default()
}

pub fn discover(info: &BootInfo) -> Result<Platform, DiscoveryError> {
    let dtb = info.dtb.ok_or(DiscoveryError::NoDeviceTree)?;
    let header = arch::firmware_bytes(dtb, 40).map_err(|_| DiscoveryError::Map(dtb))?;
    let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let bytes = arch::firmware_bytes(dtb, total.max(40)).map_err(|_| DiscoveryError::Map(dtb))?;
    let fdt = Fdt::new(bytes)
        .map_err(|_| DiscoveryError::DeviceTree("not a valid flattened device tree"))?;
    let mut platform = Platform {
        source: "device tree",
        ..Platform::default()
    };
    platform.cpus = fdt.cpus().count();
    if let Some(path) = fdt.chosen().stdout().map(|s| s.name) {
        info!("device tree: console {path}");
    }

    let mut smmus: Vec<(u32, IommuUnit)> = Vec::new();
    for node in fdt.all_nodes() {
        let compatible = node
            .compatible()
            .map(|c| c.all().collect::<Vec<_>>())
            .unwrap_or_default();
        if compatible.contains(&"arm,smmu-v3") {
            let Some((base, size)) = reg_first(&node) else {
                warn!("device tree: {} has no reg; ignored", node.name);
                continue;
            };
            let phandle = node
                .property("phandle")
                .and_then(|p| p.as_usize())
                .unwrap_or(0) as u32;
            smmus.push((
                phandle,
                IommuUnit {
                    kind: IommuKind::SmmuV3,
                    base,
                    size,
                    segment: 0,
                    coverage: Coverage::IdMap(Vec::new()),
                    interrupts: named_interrupts(&node),
                },
            ));
        } else if compatible.contains(&"arm,gic-v3") {
            let regions: Vec<_> = node.reg().into_iter().flatten().collect();
            let describe = |i: usize| regions.get(i).map_or(0, |r| r.starting_address as u64);
            if let (Some(d), Some(r)) = (regions.first(), regions.get(1)) {
                platform.gic = Some(super::GicV3 {
                    distributor: d.starting_address as u64,
                    redistributors: r.starting_address as u64,
                    redistributors_len: r.size.unwrap_or(0) as u64,
                });
            }
            platform.interrupt_controller = format!(
                "GICv3, distributor at {:#x}, redistributors at {:#x}",
                describe(0),
                describe(1)
            );
        }
    }

    for node in fdt.all_nodes() {
        let compatible = node
            .compatible()
            .map(|c| c.all().collect::<Vec<_>>())
            .unwrap_or_default();
        if !compatible.contains(&"pci-host-ecam-generic") {
            continue;
        }
        let Some((base, _)) = reg_first(&node) else {
            continue;
        };
        let buses = node
            .property("bus-range")
            .map(|p| be32s(p.value))
            .unwrap_or_default();
        let (bus_start, bus_end) = match buses.as_slice() {
            [s, e] => (*s as u8, (*e).min(255) as u8),
            _ => (0, 255),
        };
        let segment = node
            .property("linux,pci-domain")
            .and_then(|p| p.as_usize())
            .unwrap_or(0) as u16;
        // `reg` starts at bus_start's configuration space; record bus 0's, as MCFG does.
        let base = base.wrapping_sub(u64::from(bus_start) << 20);
        platform.ecam.push(EcamWindow {
            segment,
            bus_start,
            bus_end,
            base,
        });
        // ranges: (pci.hi pci.mid pci.lo) (cpu address, #address-cells of the
        // parent: 2 here) (size: 2 cells), PCI Bus Binding to OF §2.2.1.1.
        let ranges = node
            .property("ranges")
            .map(|p| be32s(p.value))
            .unwrap_or_default();
        for r in ranges.chunks_exact(7) {
            let space = (r[0] >> 24) & 0x3;
            let kind = match space {
                1 => WindowKind::Io,
                2 => WindowKind::Mem32,
                3 => WindowKind::Mem64,
                _ => continue,
            };
            platform.windows.push(Window {
                kind,
                pci_base: cells_u64(&r[1..3]),
                cpu_base: cells_u64(&r[3..5]),
                size: cells_u64(&r[5..7]),
            });
        }
        for (rid_base, phandle, output_base, length) in id_map(&node, "iommu-map") {
            match smmus.iter_mut().find(|(p, _)| *p == phandle) {
                Some((_, unit)) => {
                    unit.segment = segment;
                    if let Coverage::IdMap(maps) = &mut unit.coverage {
                        maps.push(IdMapping {
                            rid_base,
                            output_base,
                            length,
                        });
                    }
                }
                None => {
                    warn!("device tree: iommu-map names phandle {phandle:#x}, which is no SMMUv3")
                }
            }
        }
        for (rid_base, phandle, output_base, length) in id_map(&node, "msi-map") {
            info!(
                "device tree: msi-map RIDs {rid_base:#x}+{length:#x} -> MSI controller {phandle:#x} DeviceID {output_base:#x}"
            );
        }
    }
    platform.iommus = smmus.into_iter().map(|(_, u)| u).collect();
    Ok(platform)
}
