//! Isolation groups, the unit a hypervisor may give to one partition: the
//! functions of a device whose peer-to-peer traffic need not pass the
//! IOMMU. Functions of one multi-function device may reach each other
//! inside the device unless ACS redirects that traffic upstream (PCIe
//! §6.12.1.2: P2P Request / Completion Redirect, Upstream Forwarding,
//! Source Validation), so without it they are one group. Bridges (class
//! 06h: host, ISA, PCI-to-PCI bridges, root ports) route other devices'
//! traffic and are never given to a partition.
//!
//! Below the root bus, every bridge on the way up matters (Linux builds its
//! IOMMU groups the same way): a PCI Express Root Port or Switch Downstream
//! Port could route a request to a peer port before it reaches the IOMMU
//! unless its ACS controls redirect it upstream ([`check_path`]), and a
//! PCIe-to-PCI or PCI-to-PCI bridge forwards its devices' requests under an
//! alias requester ID (its secondary bus, or its own ID), so they cannot be
//! told apart; vsva does not assign below such a bridge.

use alloc::vec::Vec;

use crate::access::ConfigAccess;
use crate::express::{DevicePortType, PciExpress};
use crate::{Acs, AcsFlags, Bdf, ClassCode};

/// The ACS controls that keep a function's peer-to-peer requests and
/// completions off its siblings.
pub const ISOLATING_ACS: AcsFlags = AcsFlags::SOURCE_VALIDATION
    .union(AcsFlags::P2P_REQUEST_REDIRECT)
    .union(AcsFlags::P2P_COMPLETION_REDIRECT)
    .union(AcsFlags::UPSTREAM_FORWARDING);

/// Turns on the isolating ACS controls `bdf` implements; the controls now
/// enabled, `None` without an ACS capability.
pub fn enable_isolating_acs<A: ConfigAccess + ?Sized>(cfg: &A, bdf: Bdf) -> Option<AcsFlags> {
    let acs = Acs::find(cfg, bdf)?;
    let wanted = acs.capability(cfg) & ISOLATING_ACS;
    Some(acs.set_control(cfg, acs.control(cfg) | wanted))
}

/// Why the bridges above a function do not keep its DMA apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathIssue {
    /// A PCIe-to-PCI bridge or a conventional PCI-to-PCI bridge: requests
    /// from below it may carry its alias requester ID (PCI Express to
    /// PCI/PCI-X Bridge Specification §2.3; PCIe §2.2.6.2).
    BehindPciBridge {
        /// The bridge.
        bridge: Bdf,
    },
    /// A Root Port or Switch Downstream Port without an ACS capability, or
    /// one whose isolating controls could not all be enabled (PCIe §6.12.1.1).
    NoAcs {
        /// The port.
        port: Bdf,
    },
    /// On a switch's internal bus, beside its downstream ports: nothing
    /// keeps its requests from going down to the devices below them.
    SwitchInternal {
        /// The switch's upstream port.
        port: Bdf,
    },
    /// The bridges above loop, or there are more than buses.
    Loop,
}

/// Checks the bridges from `target` up to its root bus (`parent` names the
/// bridge a function is behind): each must be a PCI Express port, and each
/// Root Port and Switch Downstream Port must isolate with ACS. The isolating
/// controls a port implements are turned on here; those it does not
/// implement are taken as not needed (PCIe §6.12.1.1: a port that does not
/// forward peer-to-peer traffic need not implement the controls for it), as
/// Linux does. Returns the ports on the path, nearest first.
pub fn check_path<A: ConfigAccess + ?Sized>(
    cfg: &A,
    target: Bdf,
    parent: impl Fn(Bdf) -> Option<Bdf>,
) -> Result<Vec<Bdf>, PathIssue> {
    let mut ports = Vec::new();
    let mut at = target;
    // 256 buses: a longer chain loops.
    for _ in 0..256 {
        let Some(bridge) = parent(at) else {
            return Ok(ports);
        };
        match PciExpress::find(cfg, bridge).map(|e| e.device_port_type(cfg)) {
            Some(DevicePortType::RootPort | DevicePortType::SwitchDownstreamPort) => {
                let implemented = Acs::find(cfg, bridge).map(|a| a.capability(cfg) & ISOLATING_ACS);
                let enabled = enable_isolating_acs(cfg, bridge);
                match (implemented, enabled) {
                    (Some(want), Some(on)) if on.contains(want) => {}
                    _ => return Err(PathIssue::NoAcs { port: bridge }),
                }
            }
            // Below an upstream port are the switch's downstream ports; a
            // function there other than one of them reaches their buses.
            Some(DevicePortType::SwitchUpstreamPort) => {
                let below_is_port = PciExpress::find(cfg, at).is_some_and(|e| {
                    e.device_port_type(cfg) == DevicePortType::SwitchDownstreamPort
                });
                if !below_is_port {
                    return Err(PathIssue::SwitchInternal { port: bridge });
                }
            }
            _ => return Err(PathIssue::BehindPciBridge { bridge }),
        }
        ports.push(bridge);
        at = bridge;
    }
    Err(PathIssue::Loop)
}

/// The bridge a Secondary Bus Reset of `target` may use: its parent, when
/// `target` is the only function on that bridge's secondary bus (the reset
/// would reach everything there). `functions`: every function of the segment.
pub fn lone_parent(target: Bdf, parent: Option<Bdf>, functions: &[Bdf]) -> Option<Bdf> {
    let alone = functions
        .iter()
        .all(|f| *f == target || f.bus() != target.bus());
    parent.filter(|_| alone)
}

/// The functions the IOMMU sees as `target`: those firmware maps to the
/// same unit and ID (`ids`: each function with its `(unit, ID)`, if it has
/// one), e.g. two IORT ID mappings or `iommu-map` entries with one output.
/// They go wherever `target` goes.
pub fn sharing_id<K: PartialEq>(target: Bdf, ids: &[(Bdf, Option<K>)]) -> Vec<Bdf> {
    let Some(Some(mine)) = ids.iter().find(|(b, _)| *b == target).map(|(_, k)| k) else {
        return Vec::new();
    };
    ids.iter()
        .filter(|(b, k)| *b != target && k.as_ref() == Some(mine))
        .map(|(b, _)| *b)
        .collect()
}

/// The isolation group of `target`, closed under both relations: the
/// functions of a device whose function lacks isolating ACS go together
/// (`isolated` says whether a function's ACS isolates it), and functions
/// with one IOMMU ID go together (`functions`: each with its `(unit, ID)`).
/// `target` first; bounded by the number of functions.
pub fn closure<K: PartialEq>(
    target: Bdf,
    isolated: impl Fn(Bdf) -> bool,
    functions: &[(Bdf, Option<K>)],
) -> Vec<Bdf> {
    let all: Vec<Bdf> = functions.iter().map(|(b, _)| *b).collect();
    let mut group = alloc::vec![target];
    let mut next = 0;
    while let Some(&m) = group.get(next) {
        next += 1;
        let acs = isolated(m).then_some(ISOLATING_ACS);
        for joined in group_of(m, acs, &all)
            .into_iter()
            .chain(sharing_id(m, functions))
        {
            if !group.contains(&joined) {
                group.push(joined);
            }
        }
    }
    group
}

/// Whether a function of `class` may be given to a partition at all.
pub const fn assignable(class: ClassCode, is_bridge: bool) -> bool {
    // Base class 06h: bridge devices (PCI Code and ID Assignment §1.7).
    !is_bridge && class.base != 0x06
}

/// The functions that must go wherever `target` goes: itself, and unless
/// `acs` (the ACS controls enabled on it) isolates it, every other function
/// of its device among `functions`.
pub fn group_of(target: Bdf, acs: Option<AcsFlags>, functions: &[Bdf]) -> Vec<Bdf> {
    let isolated = acs.is_some_and(|a| a.contains(ISOLATING_ACS));
    let mut group = alloc::vec![target];
    if !isolated {
        group.extend(
            functions.iter().copied().filter(|f| {
                *f != target && f.bus() == target.bus() && f.device() == target.device()
            }),
        );
    }
    group
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FunctionModel, Model};
    use crate::{BusRange, EnumerationOptions, enumerate};

    /// A bridge with a PCI Express Capability of `port_type` and, if
    /// `acs`, an ACS capability implementing those controls.
    fn port(port_type: u16, acs: Option<u16>) -> FunctionModel {
        let f = FunctionModel::bridge()
            .capability_list(0x40)
            .capability(0x40, 0x10, 0)
            .set16(0x42, (port_type << 4) | 2);
        match acs {
            Some(caps) => f
                .extended(0x100, 0x000d, 1, 0)
                .set16(0x104, caps)
                .rw(0x106, &[0x7f, 0]),
            None => f,
        }
    }

    fn endpoint() -> FunctionModel {
        FunctionModel::endpoint(0x1af4, 0x1041, 0x020000)
    }

    /// The topologies of the path tests, enumerated: (model, every
    /// function with its parent).
    fn topology() -> (Model, Vec<(Bdf, Option<Bdf>)>) {
        const ROOT_PORT: u16 = 0b0100;
        const UPSTREAM: u16 = 0b0101;
        const DOWNSTREAM: u16 = 0b0110;
        const PCIE_TO_PCI: u16 = 0b0111;
        let all = 0x1f; // SV, TB, RR, CR, UF
        let model = Model::new(0);
        let below = |bus_node, device, bridge: FunctionModel| {
            let node = model.node();
            model.add_bridge(bus_node, device, 0, bridge, node);
            node
        };
        let a = below(Model::ROOT, 1, port(ROOT_PORT, Some(all)));
        let b = below(Model::ROOT, 2, port(ROOT_PORT, None));
        let c = below(Model::ROOT, 3, port(ROOT_PORT, Some(all)));
        let d = below(Model::ROOT, 4, port(PCIE_TO_PCI, None));
        // Implements only SV and RR (no completion redirect or upstream
        // forwarding to control): taken as enough.
        let e = below(Model::ROOT, 5, port(ROOT_PORT, Some(0b101)));
        // Says it has every control but keeps them all at 0.
        let f = below(
            Model::ROOT,
            7,
            port(ROOT_PORT, Some(all)).rw(0x106, &[0, 0]),
        );
        let up = below(c, 0, port(UPSTREAM, None));
        let down = below(up, 0, port(DOWNSTREAM, Some(all)));
        // An endpoint on the switch's internal bus.
        model.add(up, 1, 0, endpoint());
        model.add(Model::ROOT, 6, 0, endpoint());
        for node in [a, b, down, d, e, f] {
            model.add(node, 0, 0, endpoint());
        }
        model.add(e, 1, 0, endpoint());
        let options = EnumerationOptions {
            segment: 0,
            buses: BusRange::ALL,
            assign_bus_numbers: true,
        };
        let functions = enumerate(&model, &options)
            .functions
            .iter()
            .map(|f| (f.bdf, f.parent))
            .collect();
        (model, functions)
    }

    #[test]
    fn paths_through_pcie_ports_with_acs_isolate_and_others_do_not() {
        let (model, functions) = topology();
        let parent = |b: Bdf| functions.iter().find(|f| f.0 == b).and_then(|f| f.1);
        let endpoint_below = |bridge: Bdf| {
            functions
                .iter()
                .find(|f| f.1 == Some(bridge) && f.0.device() == 0)
                .map(|f| f.0)
                .unwrap_or_else(|| panic!("nothing below {bridge}"))
        };
        let root = |device| bdf(0, device, 0);
        let check = |target| check_path(&model, target, parent);
        // Below a root port with ACS: isolated, and its controls are now on.
        let port_a = root(1);
        assert_eq!(check(endpoint_below(port_a)), Ok(vec![port_a]));
        let acs = Acs::find(&model, port_a).unwrap();
        assert_eq!(acs.control(&model), ISOLATING_ACS);
        assert_eq!(
            check(endpoint_below(root(2))),
            Err(PathIssue::NoAcs { port: root(2) })
        );
        // Through a switch: both downstream-facing ports isolate.
        let up = endpoint_below(root(3));
        let down = endpoint_below(up);
        assert_eq!(check(endpoint_below(down)), Ok(vec![down, up, root(3)]));
        assert_eq!(
            check(endpoint_below(root(4))),
            Err(PathIssue::BehindPciBridge { bridge: root(4) })
        );
        let e = endpoint_below(root(5));
        assert_eq!(check(e), Ok(vec![root(5)]));
        assert_eq!(check(root(6)), Ok(vec![]));
        assert_eq!(
            check(endpoint_below(root(7))),
            Err(PathIssue::NoAcs { port: root(7) }),
            "controls that do not stick"
        );
        let internal = functions
            .iter()
            .find(|f| f.1 == Some(up) && f.0.device() == 1)
            .unwrap()
            .0;
        assert_eq!(check(internal), Err(PathIssue::SwitchInternal { port: up }));
        // A chain that loops ends.
        assert_eq!(
            check_path(&model, root(6), |_| Some(down)),
            Err(PathIssue::Loop)
        );
    }

    #[test]
    fn a_bus_reset_is_offered_only_for_a_function_alone_on_its_bus() {
        let (_, functions) = topology();
        let all: Vec<Bdf> = functions.iter().map(|f| f.0).collect();
        let parent = |b: Bdf| functions.iter().find(|f| f.0 == b).and_then(|f| f.1);
        let below = |bridge| {
            functions
                .iter()
                .filter(move |f| f.1 == Some(bridge))
                .map(|f| f.0)
        };
        let alone = below(bdf(0, 1, 0)).next().unwrap();
        assert_eq!(lone_parent(alone, parent(alone), &all), Some(bdf(0, 1, 0)));
        let shared: Vec<Bdf> = below(bdf(0, 5, 0)).collect();
        assert_eq!(shared.len(), 2);
        assert_eq!(lone_parent(shared[0], parent(shared[0]), &all), None);
        assert_eq!(lone_parent(bdf(0, 6, 0), None, &all), None);
    }

    fn bdf(bus: u8, device: u8, function: u8) -> Bdf {
        Bdf::new(bus, device, function).unwrap()
    }

    #[test]
    fn functions_of_one_device_go_together_without_acs() {
        let all = [
            bdf(0, 0x1f, 0),
            bdf(0, 0x1f, 2),
            bdf(0, 0x1f, 3),
            bdf(0, 1, 0),
            bdf(1, 0x1f, 0),
        ];
        assert_eq!(
            group_of(bdf(0, 0x1f, 2), None, &all),
            [bdf(0, 0x1f, 2), bdf(0, 0x1f, 0), bdf(0, 0x1f, 3)]
        );
        // Partial ACS (redirect without upstream forwarding) is not enough.
        let partial = AcsFlags::P2P_REQUEST_REDIRECT | AcsFlags::P2P_COMPLETION_REDIRECT;
        assert_eq!(group_of(bdf(0, 0x1f, 2), Some(partial), &all).len(), 3);
        assert_eq!(
            group_of(bdf(0, 0x1f, 2), Some(ISOLATING_ACS), &all),
            [bdf(0, 0x1f, 2)]
        );
        // A single-function device is its own group.
        assert_eq!(group_of(bdf(0, 1, 0), None, &all), [bdf(0, 1, 0)]);
    }

    #[test]
    fn functions_the_iommu_sees_as_one_go_together() {
        let ids = [
            (bdf(0, 1, 0), Some((0usize, 8u32))),
            (bdf(0, 2, 0), Some((0, 8))),
            (bdf(0, 3, 0), Some((1, 8))),
            (bdf(0, 4, 0), None),
            (bdf(0, 5, 0), None),
        ];
        assert_eq!(sharing_id(bdf(0, 1, 0), &ids), [bdf(0, 2, 0)]);
        assert_eq!(sharing_id(bdf(0, 3, 0), &ids), [], "another unit");
        assert_eq!(sharing_id(bdf(0, 4, 0), &ids), [], "no ID is no alias");
        assert_eq!(sharing_id(bdf(0, 9, 0), &ids), []);
    }

    #[test]
    fn a_group_is_closed_under_shared_devices_and_shared_ids() {
        // 01.0 and 01.1 share a device (01.0 without ACS); 01.1 shares its
        // IOMMU ID with 02.0, which shares a device with 02.1, isolated by
        // ACS, as is 02.0. 03.0 is apart.
        let ids = [
            (bdf(0, 1, 0), Some(1u32)),
            (bdf(0, 1, 1), Some(2)),
            (bdf(0, 2, 0), Some(2)),
            (bdf(0, 2, 1), Some(3)),
            (bdf(0, 3, 0), Some(4)),
        ];
        let isolated = |b: Bdf| b.device() == 2;
        assert_eq!(
            closure(bdf(0, 1, 0), isolated, &ids),
            [bdf(0, 1, 0), bdf(0, 1, 1), bdf(0, 2, 0)]
        );
        assert_eq!(closure(bdf(0, 2, 1), isolated, &ids), [bdf(0, 2, 1)]);
        assert_eq!(closure(bdf(0, 3, 0), isolated, &ids), [bdf(0, 3, 0)]);
        // Without ACS anywhere, device 2's functions join as well.
        assert_eq!(closure(bdf(0, 1, 0), |_| false, &ids).len(), 4);
    }

    #[test]
    fn bridges_are_never_assignable() {
        let class = |base, sub| ClassCode {
            base,
            sub,
            prog_if: 0,
        };
        assert!(!assignable(class(0x06, 0x00), false), "host bridge");
        assert!(!assignable(class(0x06, 0x01), false), "ISA bridge");
        assert!(!assignable(class(0x06, 0x04), true), "PCI-to-PCI bridge");
        assert!(
            !assignable(class(0x00, 0xff), true),
            "a type-1 header whatever its class"
        );
        assert!(assignable(class(0x00, 0xff), false));
        assert!(assignable(class(0x02, 0x00), false));
    }
}
