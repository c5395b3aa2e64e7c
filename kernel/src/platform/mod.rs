//! Platform discovery: the IOMMUs, the PCI host bridges and which IOMMU
//! translates which requester, exactly as firmware describes them.
//!
//! x86_64 reads ACPI (RSDP → RSDT/XSDT → MCFG, MADT, DMAR); aarch64 reads the
//! device tree (SMMUv3 nodes, the ECAM host bridge with its `ranges`,
//! `iommu-map` and `msi-map`, the GIC). Both produce one [`Platform`].

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

#[cfg(target_os = "none")]
pub mod acpi;

/// Discovers the platform: from ACPI when the boot path found an RSDP (always
/// on x86_64; on aarch64 through UEFI), else from the device tree.
#[cfg(target_os = "none")]
pub fn discover(info: &vsva_boot::BootInfo) -> Result<Platform, DiscoveryError> {
    #[cfg(target_arch = "aarch64")]
    if acpi::find_rsdp(info).is_none() {
        return dt::discover(info);
    }
    acpi::discover(info)
}
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod dt;
#[cfg(all(target_os = "none", feature = "ktest"))]
mod ktests;
pub mod rsdp;

/// An ECAM region: configuration space of `bus_start..=bus_end` on `segment`
/// (PCI Firmware Spec 3.2 §4.1.2 "MCFG"; DT `pci-host-ecam-generic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcamWindow {
    pub segment: u16,
    pub bus_start: u8,
    pub bus_end: u8,
    /// Where bus 0's configuration space is (or would be), MCFG's convention.
    pub base: u64,
}

/// Which architecture an IOMMU unit implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuKind {
    /// Intel VT-d remapping hardware unit (a DMAR DRHD).
    Vtd,
    /// Arm SMMUv3.
    SmmuV3,
}

/// One entry of a DMAR device scope, kept in firmware's terms (VT-d spec §8.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// DMAR device scope type: 1 endpoint, 2 sub-hierarchy, 3 IOAPIC, 4 HPET, 5 ACPI device.
    pub kind: u8,
    pub enumeration_id: u8,
    pub start_bus: u8,
    /// (device, function) hops from `start_bus`.
    pub path: Vec<(u8, u8)>,
}

/// A range of requester IDs and the IDs the IOMMU sees for them (DT `iommu-map`,
/// IORT ID mappings): RID `rid_base + i` becomes StreamID `output_base + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMapping {
    pub rid_base: u32,
    pub output_base: u32,
    pub length: u32,
}

/// Which requesters a unit translates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// DRHD with INCLUDE_PCI_ALL: every device of the segment no other unit lists.
    AllRemaining,
    /// DRHD device scopes.
    Scopes(Vec<Scope>),
    /// Requester-ID ranges mapped to StreamIDs.
    IdMap(Vec<IdMapping>),
}

/// One IOMMU as firmware describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IommuUnit {
    pub kind: IommuKind,
    pub base: u64,
    pub size: u64,
    pub segment: u16,
    pub coverage: Coverage,
    /// Interrupt numbers (GIC INTIDs on aarch64), in firmware order, with names.
    pub interrupts: Vec<(String, u32)>,
}

/// What a DMAR device scope path leads to, read from configuration space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopeTarget {
    /// Requester ID of the device the path ends at.
    pub rid: u16,
    /// For a bridge: the buses below it, secondary..=subordinate.
    pub buses: Option<(u8, u8)>,
}

impl IommuUnit {
    /// The StreamID / source ID this unit sees for requester `rid` of `segment`,
    /// if its firmware description lists that requester. `resolve` follows a DMAR
    /// scope path through bridges (VT-d spec §8.3.1.1) in configuration space.
    /// An INCLUDE_PCI_ALL unit answers for every requester: callers ask the
    /// units with explicit scopes first ([`Platform::route`]).
    pub fn stream_id(
        &self,
        segment: u16,
        rid: u16,
        resolve: &dyn Fn(&Scope) -> Option<ScopeTarget>,
    ) -> Option<u32> {
        if segment != self.segment {
            return None;
        }
        match &self.coverage {
            Coverage::AllRemaining => Some(u32::from(rid)),
            Coverage::Scopes(scopes) => scopes
                .iter()
                .any(|s| match (s.kind, resolve(s)) {
                    (1, Some(t)) => t.rid == rid,
                    // A sub-hierarchy scope: the bridge and everything below it.
                    (2, Some(t)) => {
                        let bus = (rid >> 8) as u8;
                        t.rid == rid || t.buses.is_some_and(|(lo, hi)| (lo..=hi).contains(&bus))
                    }
                    _ => false,
                })
                .then_some(u32::from(rid)),
            Coverage::IdMap(maps) => maps.iter().find_map(|m| {
                let offset = u32::from(rid).checked_sub(m.rid_base)?;
                (offset < m.length).then(|| m.output_base + offset)
            }),
        }
    }
}

/// Everything discovery found.
#[derive(Clone, Debug, Default)]
pub struct Platform {
    pub source: &'static str,
    pub ecam: Vec<EcamWindow>,
    /// Host bridge windows from DT `ranges` (empty under ACPI, where firmware
    /// has assigned BARs and the windows live in AML `_CRS`).
    pub windows: Vec<vsva_pci::Window>,
    pub iommus: Vec<IommuUnit>,
    pub cpus: usize,
    /// Interrupt controller, one line for the log.
    pub interrupt_controller: String,
    /// The GICv3 (aarch64), when firmware describes one.
    pub gic: Option<GicV3>,
    /// x86 interrupt controller register blocks (local APIC, IOAPICs):
    /// (base, bytes), kept out of every BAR a partition is given.
    pub apic_mmio: Vec<(u64, u64)>,
}

/// A GICv3 as firmware describes it: DT `arm,gic-v3` `reg` (distributor, then
/// the redistributor region), ACPI MADT GICD and GICR structures (ACPI 6.5
/// §5.2.12.15, §5.2.12.17).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GicV3 {
    pub distributor: u64,
    /// The redistributor region: `len` bytes of contiguous frames from `base`.
    pub redistributors: u64,
    pub redistributors_len: u64,
}

impl Platform {
    /// Which unit translates requester `rid` of `segment`, and the ID it sees:
    /// units that list their devices first, then an INCLUDE_PCI_ALL unit
    /// (VT-d spec §8.3: it covers the devices no other unit lists).
    pub fn route(
        &self,
        segment: u16,
        rid: u16,
        resolve: &dyn Fn(&Scope) -> Option<ScopeTarget>,
    ) -> Option<(usize, u32)> {
        let explicit = self
            .iommus
            .iter()
            .enumerate()
            .filter(|(_, u)| u.coverage != Coverage::AllRemaining);
        let catch_all = self
            .iommus
            .iter()
            .enumerate()
            .filter(|(_, u)| u.coverage == Coverage::AllRemaining);
        explicit
            .chain(catch_all)
            .find_map(|(i, u)| Some((i, u.stream_id(segment, rid, resolve)?)))
    }
}

/// What discovery found, once it has run.
pub static PLATFORM: spin::Once<Platform> = spin::Once::new();

impl Platform {
    /// Logs what was found, one line per unit, window and region.
    pub fn log(&self) {
        log::info!(
            "platform ({}): {} CPUs; {}",
            self.source,
            self.cpus,
            if self.interrupt_controller.is_empty() {
                "no interrupt controller found"
            } else {
                &self.interrupt_controller
            }
        );
        for e in &self.ecam {
            log::info!(
                "  PCI ECAM segment {} buses {:#04x}-{:#04x} at {:#x}",
                e.segment,
                e.bus_start,
                e.bus_end,
                e.base
            );
        }
        for w in &self.windows {
            log::info!(
                "  PCI {:?} window: CPU {:#x} -> PCI {:#x}, size {:#x}",
                w.kind,
                w.cpu_base,
                w.pci_base,
                w.size
            );
        }
        for u in &self.iommus {
            let coverage = match &u.coverage {
                Coverage::AllRemaining => String::from("all remaining devices (INCLUDE_PCI_ALL)"),
                Coverage::Scopes(s) => alloc::format!(
                    "{} device scopes: {}",
                    s.len(),
                    s.iter()
                        .map(|s| alloc::format!(
                            "{}@{:02x}:{}",
                            match s.kind {
                                1 => "endpoint",
                                2 => "bridge",
                                3 => "ioapic",
                                4 => "hpet",
                                5 => "acpi",
                                _ => "?",
                            },
                            s.start_bus,
                            s.path
                                .iter()
                                .map(|(d, f)| alloc::format!("{d:02x}.{f}"))
                                .collect::<Vec<_>>()
                                .join("/")
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Coverage::IdMap(m) => alloc::format!(
                    "RID map {}",
                    m.iter()
                        .map(|m| alloc::format!(
                            "{:#x}+{:#x} -> StreamID {:#x}",
                            m.rid_base,
                            m.length,
                            m.output_base
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            log::info!(
                "  IOMMU {:?} at {:#x} (size {:#x}), segment {}: {}",
                u.kind,
                u.base,
                u.size,
                u.segment,
                coverage
            );
            if !u.interrupts.is_empty() {
                let irqs: Vec<_> = u
                    .interrupts
                    .iter()
                    .map(|(n, i)| alloc::format!("{n}={i}"))
                    .collect();
                log::info!("    interrupts {}", irqs.join(" "));
            }
        }
    }
}

/// Why discovery failed.
#[derive(Debug)]
pub enum DiscoveryError {
    /// No RSDP from the loader and none in the BIOS areas.
    NoRsdp,
    /// The loader passed no device tree.
    NoDeviceTree,
    /// The device tree blob is malformed.
    DeviceTree(&'static str),
    /// The `acpi` crate refused a table.
    Acpi(String),
    /// Our own DMAR / IORT parser refused a table.
    Table(vsva_iommu::acpi::AcpiError),
    /// A firmware table could not be mapped.
    Map(u64),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRsdp => write!(f, "no ACPI RSDP found"),
            Self::NoDeviceTree => write!(f, "no device tree was passed"),
            Self::DeviceTree(why) => write!(f, "device tree: {why}"),
            Self::Acpi(why) => write!(f, "ACPI: {why}"),
            Self::Table(e) => write!(f, "{e}"),
            Self::Map(addr) => write!(f, "cannot map the firmware table at {addr:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(coverage: Coverage) -> IommuUnit {
        IommuUnit {
            kind: IommuKind::SmmuV3,
            base: 0x0905_0000,
            size: 0x20000,
            segment: 0,
            coverage,
            interrupts: Vec::new(),
        }
    }

    #[test]
    fn id_maps_translate_only_their_range() {
        let u = unit(Coverage::IdMap(vec![IdMapping {
            rid_base: 0x100,
            output_base: 0x8000,
            length: 0x100,
        }]));
        let none = |_: &Scope| None;
        assert_eq!(u.stream_id(0, 0x100, &none), Some(0x8000));
        assert_eq!(u.stream_id(0, 0x1ff, &none), Some(0x80ff));
        assert_eq!(u.stream_id(0, 0x200, &none), None);
        assert_eq!(u.stream_id(0, 0xff, &none), None);
        assert_eq!(u.stream_id(1, 0x100, &none), None);
    }

    /// Two ID mappings with one output (overlapping IORT or `iommu-map`
    /// outputs): the unit cannot tell the two requesters apart, so they
    /// form one isolation group, which goes to one partition or none.
    #[test]
    fn requesters_mapped_to_one_stream_id_form_one_group() {
        let one = |rid_base| IdMapping {
            rid_base,
            output_base: 0x40,
            length: 1,
        };
        let platform = Platform {
            iommus: vec![unit(Coverage::IdMap(vec![one(0x08), one(0x10)]))],
            ..Platform::default()
        };
        let none = |_: &Scope| None;
        let bdfs = [0x08u16, 0x10, 0x18].map(|rid| {
            vsva_pci::Bdf::new((rid >> 8) as u8, (rid >> 3) as u8 & 31, rid as u8 & 7).unwrap()
        });
        let ids: Vec<_> = bdfs
            .iter()
            .map(|b| (*b, platform.route(0, b.rid(), &none)))
            .collect();
        assert_eq!(ids[0].1, Some((0, 0x40)));
        assert_eq!(vsva_pci::group::sharing_id(bdfs[0], &ids), [bdfs[1]]);
        assert_eq!(vsva_pci::group::sharing_id(bdfs[1], &ids), [bdfs[0]]);
        assert!(
            vsva_pci::group::sharing_id(bdfs[2], &ids).is_empty(),
            "unmapped"
        );
    }

    /// Resolves paths as if every bridge at device d forwarded to buses
    /// d + 1..=d + 2, one bus further per hop.
    fn resolve(s: &Scope) -> Option<ScopeTarget> {
        let (d, f) = *s.path.last()?;
        let bus = s.start_bus + (s.path.len() as u8 - 1);
        let rid = u16::from(bus) << 8 | u16::from(d) << 3 | u16::from(f);
        let buses = (s.kind == 2).then_some((d + 1, d + 2));
        Some(ScopeTarget { rid, buses })
    }

    fn scope(kind: u8, path: Vec<(u8, u8)>) -> Scope {
        Scope {
            kind,
            enumeration_id: 0,
            start_bus: 0,
            path,
        }
    }

    #[test]
    fn dmar_scopes_match_the_endpoint_they_name() {
        let u = unit(Coverage::Scopes(vec![scope(1, vec![(3, 0)])]));
        assert_eq!(u.stream_id(0, 0x18, &resolve), Some(0x18));
        assert_eq!(u.stream_id(0, 0x19, &resolve), None);
        let all = unit(Coverage::AllRemaining);
        assert_eq!(all.stream_id(0, 0x42, &resolve), Some(0x42));
    }

    #[test]
    fn sub_hierarchy_scopes_cover_the_buses_below_the_bridge() {
        let u = unit(Coverage::Scopes(vec![scope(2, vec![(4, 0)])]));
        assert_eq!(u.stream_id(0, 0x0020, &resolve), Some(0x20)); // the bridge 00:04.0
        assert_eq!(u.stream_id(0, 0x0500, &resolve), Some(0x500)); // bus 5
        assert_eq!(u.stream_id(0, 0x06ff, &resolve), Some(0x6ff)); // bus 6
        assert_eq!(u.stream_id(0, 0x0700, &resolve), None); // bus 7: not below it
    }

    #[test]
    fn units_with_explicit_scopes_win_over_include_pci_all() {
        let igd = scope(1, vec![(2, 0)]);
        let platform = Platform {
            iommus: vec![
                IommuUnit {
                    base: 0xfed9_1000,
                    ..unit(Coverage::AllRemaining)
                },
                IommuUnit {
                    base: 0xfed9_0000,
                    ..unit(Coverage::Scopes(vec![igd]))
                },
            ],
            ..Platform::default()
        };
        assert_eq!(platform.route(0, 0x10, &resolve), Some((1, 0x10)));
        assert_eq!(platform.route(0, 0x18, &resolve), Some((0, 0x18)));
        assert_eq!(platform.route(1, 0x18, &resolve), None);
    }
}
