//! `cargo xtask acpi`: decodes DMAR and IORT tables dumped from a machine
//! (`cat /sys/firmware/acpi/tables/DMAR`, `acpixtract`) with the hypervisor's own parsers, as a
//! readable summary or as JSON.
//!
//! JSON output is one array with one object per file. Field names are stable snake_case;
//! 64-bit addresses are hex strings (`"0xfed90000"`) so no consumer loses precision, other
//! numbers are JSON numbers. A file that fails to parse gives `{"file": …, "error": {"kind",
//! "offset", "message"}}`.

use std::fmt::Write as _;
use std::path::PathBuf;

use vsva_iommu::acpi::dmar::{DeviceScope, DeviceScopeType, Dmar, RemappingStructure};
use vsva_iommu::acpi::iort::{IdMapping, IdResolution, Iort, Node, NodeKind, NodeType};
use vsva_iommu::acpi::{AcpiError, SdtHeader};

/// Decodes each file; prints a summary (or one JSON document for all files). A file that fails
/// is reported with its typed error and byte offset and the others are still decoded; the
/// result is `Err` if any file failed.
pub fn run(files: &[PathBuf], json: bool) -> Result<(), String> {
    let mut failed = 0usize;
    let mut docs = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let decoded = std::fs::read(path)
            .map_err(|e| Failure::Io(e.to_string()))
            .and_then(|bytes| decode(&name, &bytes, json));
        match decoded {
            Ok(Output::Text(t)) => print!("{t}"),
            Ok(Output::Json(j)) => docs.push(j),
            Err(f) => {
                failed += 1;
                eprintln!("{name}: {f}");
                if json {
                    docs.push(J::obj([("file", J::str(&name)), ("error", f.to_json())]));
                }
            }
        }
    }
    if json {
        let mut out = String::new();
        J::Arr(docs).write(&mut out, 0);
        println!("{out}");
    }
    if failed > 0 {
        Err(format!(
            "{failed} of {} table(s) could not be decoded",
            files.len()
        ))
    } else {
        Ok(())
    }
}

enum Output {
    Text(String),
    Json(J),
}

enum Failure {
    Io(String),
    UnknownSignature([u8; 4]),
    Parse(AcpiError),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read: {e}"),
            Self::UnknownSignature(s) => write!(
                f,
                "signature {:?} is neither DMAR nor IORT",
                String::from_utf8_lossy(s)
            ),
            Self::Parse(e) => write!(f, "{e}"),
        }
    }
}

impl Failure {
    fn to_json(&self) -> J {
        let (kind, offset) = match self {
            Self::Io(_) => ("Io".to_string(), None),
            Self::UnknownSignature(_) => ("UnknownSignature".to_string(), Some(0)),
            Self::Parse(e) => {
                let dbg = format!("{e:?}");
                let kind = dbg.split([' ', '{', '(']).next().unwrap_or("").to_string();
                (kind, e.offset())
            }
        };
        J::obj([
            ("kind", J::Str(kind)),
            ("offset", offset.map_or(J::Null, |o| J::Num(o as u64))),
            ("message", J::Str(self.to_string())),
        ])
    }
}

fn decode(name: &str, bytes: &[u8], json: bool) -> Result<Output, Failure> {
    let sig: [u8; 4] = match bytes.get(..4).and_then(|s| s.try_into().ok()) {
        Some(s) => s,
        None => {
            return Err(Failure::Parse(SdtHeader::peek(bytes).err().unwrap_or(
                AcpiError::Truncated {
                    offset: 0,
                    needed: 36,
                    available: bytes.len(),
                },
            )));
        }
    };
    match &sig {
        b"DMAR" => {
            let dmar = Dmar::parse(bytes).map_err(Failure::Parse)?;
            Ok(if json {
                Output::Json(dmar_json(name, &dmar))
            } else {
                Output::Text(dmar_text(name, &dmar))
            })
        }
        b"IORT" => {
            let iort = Iort::parse(bytes).map_err(Failure::Parse)?;
            Ok(if json {
                Output::Json(iort_json(name, &iort))
            } else {
                Output::Text(iort_text(name, &iort))
            })
        }
        _ => Err(Failure::UnknownSignature(sig)),
    }
}

/// OEM fields may hold any byte: show ASCII as is and other bytes as Latin-1.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

fn header_line(name: &str, h: &SdtHeader, checksum_valid: bool) -> String {
    format!(
        "{name}: {} rev {}, {} bytes, OEM {:?} {:?}, checksum {}\n",
        latin1(&h.signature()),
        h.revision(),
        h.length(),
        latin1(&h.oem_id()),
        latin1(&h.oem_table_id()),
        if checksum_valid {
            "ok"
        } else {
            "WRONG (table used anyway)"
        }
    )
}

/// The names of the set flags of any of the parsers' `bitflags` types.
macro_rules! names {
    ($flags:expr) => {
        $flags
            .iter_names()
            .map(|(n, _)| n)
            .collect::<Vec<&'static str>>()
    };
}

/// Set flags as `A|B`, or `none`.
macro_rules! flag_text {
    ($flags:expr) => {{
        let n = names!($flags);
        if n.is_empty() {
            String::from("none")
        } else {
            n.join("|")
        }
    }};
}

/// Set flags as a JSON array of names.
macro_rules! flags_json {
    ($flags:expr) => {
        J::Arr(names!($flags).into_iter().map(J::str).collect())
    };
}

fn scope_type_name(t: DeviceScopeType) -> String {
    match t {
        DeviceScopeType::PciEndpoint => "pci_endpoint".into(),
        DeviceScopeType::PciSubHierarchy => "pci_sub_hierarchy".into(),
        DeviceScopeType::IoApic => "ioapic".into(),
        DeviceScopeType::MsiCapableHpet => "msi_capable_hpet".into(),
        DeviceScopeType::AcpiNamespaceDevice => "acpi_namespace_device".into(),
        DeviceScopeType::Unknown(v) => format!("unknown_{v}"),
    }
}

fn scope_path(s: &DeviceScope<'_>) -> String {
    let mut out = format!("{:02x}:", s.start_bus());
    for (i, hop) in s.path().iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        let _ = write!(out, "{:02x}.{}", hop.device, hop.function);
    }
    out
}

fn dmar_text(name: &str, d: &Dmar<'_>) -> String {
    let mut o = header_line(name, d.header(), d.checksum_valid());
    let _ = writeln!(
        o,
        "  host address width {}, flags {}",
        d.host_address_width(),
        flag_text!(d.flags())
    );
    for s in d.structures() {
        let at = s.offset();
        let _ = match &s {
            RemappingStructure::Drhd(x) => writeln!(
                o,
                "  DRHD @{at:#x}: segment {}, register base {:#x}, {} page(s), flags {}",
                x.segment(),
                x.register_base(),
                x.register_set_pages(),
                flag_text!(x.flags())
            ),
            RemappingStructure::Rmrr(x) => writeln!(
                o,
                "  RMRR @{at:#x}: segment {}, {:#x}..={:#x}",
                x.segment(),
                x.base(),
                x.limit()
            ),
            RemappingStructure::Atsr(x) => {
                writeln!(
                    o,
                    "  ATSR @{at:#x}: segment {}, flags {}",
                    x.segment(),
                    flag_text!(x.flags())
                )
            }
            RemappingStructure::Rhsa(x) => writeln!(
                o,
                "  RHSA @{at:#x}: register base {:#x}, proximity domain {}",
                x.register_base(),
                x.proximity_domain()
            ),
            RemappingStructure::Andd(x) => writeln!(
                o,
                "  ANDD @{at:#x}: ACPI device {} \"{}\"",
                x.acpi_device_number(),
                latin1(x.object_name())
            ),
            RemappingStructure::Satc(x) => {
                writeln!(
                    o,
                    "  SATC @{at:#x}: segment {}, flags {}",
                    x.segment(),
                    flag_text!(x.flags())
                )
            }
            RemappingStructure::Sidp(x) => writeln!(o, "  SIDP @{at:#x}: segment {}", x.segment()),
            RemappingStructure::Unknown(x) => writeln!(
                o,
                "  type {} @{at:#x}: {} bytes, not decoded",
                x.structure_type(),
                x.bytes().len()
            ),
        };
        for sc in s.device_scopes() {
            let mut line = format!(
                "    {} {}",
                scope_type_name(sc.scope_type()),
                scope_path(&sc)
            );
            if !matches!(
                sc.scope_type(),
                DeviceScopeType::PciEndpoint | DeviceScopeType::PciSubHierarchy
            ) {
                let _ = write!(line, " id {}", sc.enumeration_id());
            }
            if !sc.flags().is_empty() {
                let _ = write!(line, " flags {}", flag_text!(sc.flags()));
            }
            let _ = writeln!(o, "{line}");
        }
    }
    o
}

fn header_json(name: &str, h: &SdtHeader, checksum_valid: bool) -> Vec<(&'static str, J)> {
    vec![
        ("file", J::str(name)),
        ("signature", J::Str(latin1(&h.signature()))),
        ("revision", J::Num(h.revision().into())),
        ("length", J::Num(h.length().into())),
        ("checksum_valid", J::Bool(checksum_valid)),
        ("oem_id", J::Str(latin1(&h.oem_id()))),
        ("oem_table_id", J::Str(latin1(&h.oem_table_id()))),
        ("oem_revision", J::Num(h.oem_revision().into())),
    ]
}

fn dmar_json(name: &str, d: &Dmar<'_>) -> J {
    let mut fields = header_json(name, d.header(), d.checksum_valid());
    fields.push(("host_address_width", J::Num(d.host_address_width().into())));
    fields.push(("flags", flags_json!(d.flags())));
    let structures = d
        .structures()
        .map(|s| {
            let mut f: Vec<(&'static str, J)> = vec![("offset", J::Num(s.offset() as u64))];
            match &s {
                RemappingStructure::Drhd(x) => {
                    f.push(("type", J::str("drhd")));
                    f.push(("flags", flags_json!(x.flags())));
                    f.push(("segment", J::Num(x.segment().into())));
                    f.push(("register_base", J::hex(x.register_base())));
                    f.push(("register_set_pages", J::Num(x.register_set_pages().into())));
                }
                RemappingStructure::Rmrr(x) => {
                    f.push(("type", J::str("rmrr")));
                    f.push(("segment", J::Num(x.segment().into())));
                    f.push(("base", J::hex(x.base())));
                    f.push(("limit", J::hex(x.limit())));
                }
                RemappingStructure::Atsr(x) => {
                    f.push(("type", J::str("atsr")));
                    f.push(("flags", flags_json!(x.flags())));
                    f.push(("segment", J::Num(x.segment().into())));
                }
                RemappingStructure::Rhsa(x) => {
                    f.push(("type", J::str("rhsa")));
                    f.push(("register_base", J::hex(x.register_base())));
                    f.push(("proximity_domain", J::Num(x.proximity_domain().into())));
                }
                RemappingStructure::Andd(x) => {
                    f.push(("type", J::str("andd")));
                    f.push(("acpi_device_number", J::Num(x.acpi_device_number().into())));
                    f.push(("object_name", J::Str(latin1(x.object_name()))));
                }
                RemappingStructure::Satc(x) => {
                    f.push(("type", J::str("satc")));
                    f.push(("flags", flags_json!(x.flags())));
                    f.push(("segment", J::Num(x.segment().into())));
                }
                RemappingStructure::Sidp(x) => {
                    f.push(("type", J::str("sidp")));
                    f.push(("segment", J::Num(x.segment().into())));
                }
                RemappingStructure::Unknown(x) => {
                    f.push(("type", J::Str(format!("unknown_{}", x.structure_type()))));
                    f.push(("length", J::Num(x.bytes().len() as u64)));
                }
            }
            let scopes: Vec<J> = s
                .device_scopes()
                .map(|sc| {
                    J::obj([
                        ("type", J::Str(scope_type_name(sc.scope_type()))),
                        ("flags", flags_json!(sc.flags())),
                        ("enumeration_id", J::Num(sc.enumeration_id().into())),
                        ("start_bus", J::Num(sc.start_bus().into())),
                        (
                            "path",
                            J::Arr(
                                sc.path()
                                    .iter()
                                    .map(|p| {
                                        J::obj([
                                            ("device", J::Num(p.device.into())),
                                            ("function", J::Num(p.function.into())),
                                        ])
                                    })
                                    .collect(),
                            ),
                        ),
                    ])
                })
                .collect();
            if !matches!(
                s,
                RemappingStructure::Rhsa(_)
                    | RemappingStructure::Andd(_)
                    | RemappingStructure::Unknown(_)
            ) {
                f.push(("device_scopes", J::Arr(scopes)));
            }
            J::Obj(f)
        })
        .collect();
    fields.push(("structures", J::Arr(structures)));
    J::Obj(fields)
}

fn node_type_name(t: NodeType) -> String {
    match t {
        NodeType::ItsGroup => "its_group".into(),
        NodeType::NamedComponent => "named_component".into(),
        NodeType::RootComplex => "root_complex".into(),
        NodeType::SmmuV1V2 => "smmu_v1_v2".into(),
        NodeType::SmmuV3 => "smmu_v3".into(),
        NodeType::Pmcg => "pmcg".into(),
        NodeType::Rmr => "rmr".into(),
        NodeType::Iwb => "iwb".into(),
        NodeType::Unknown(v) => format!("unknown_{v}"),
    }
}

fn mapping_text(m: &IdMapping) -> String {
    if m.is_single() {
        format!(
            "single -> {:#x} @{:#x}",
            m.output_base(),
            m.output_reference()
        )
    } else {
        format!(
            "{:#x}..={:#x} -> {:#x} @{:#x}",
            m.input_base(),
            m.input_last(),
            m.output_base(),
            m.output_reference()
        )
    }
}

fn node_details(n: &Node<'_>) -> Vec<(&'static str, J)> {
    match n.kind() {
        NodeKind::ItsGroup(g) => vec![(
            "its_identifiers",
            J::Arr(g.its_identifiers().map(|i| J::Num(i.into())).collect()),
        )],
        NodeKind::NamedComponent(nc) => vec![
            ("flags", flags_json!(nc.flags())),
            ("pasid_bits", J::Num(nc.pasid_bits().into())),
            (
                "cache_coherency",
                J::Num(nc.memory_access_properties().cache_coherency().into()),
            ),
            (
                "memory_access_flags",
                flags_json!(nc.memory_access_properties().memory_access_flags()),
            ),
            (
                "device_memory_address_size_limit",
                J::Num(nc.device_memory_address_size_limit().into()),
            ),
            (
                "device_object_name",
                J::Str(latin1(nc.device_object_name())),
            ),
        ],
        NodeKind::RootComplex(rc) => vec![
            ("pci_segment_number", J::Num(rc.pci_segment_number().into())),
            ("ats_attribute", flags_json!(rc.ats_attribute())),
            (
                "cache_coherency",
                J::Num(rc.memory_access_properties().cache_coherency().into()),
            ),
            (
                "memory_access_flags",
                flags_json!(rc.memory_access_properties().memory_access_flags()),
            ),
            (
                "memory_address_size_limit",
                rc.memory_address_size_limit()
                    .map_or(J::Null, |v| J::Num(v.into())),
            ),
            (
                "max_pasid_width",
                rc.max_pasid_width().map_or(J::Null, |v| J::Num(v.into())),
            ),
            (
                "root_complex_flags",
                rc.flags().map_or(J::Null, |v| J::Num(v.into())),
            ),
        ],
        NodeKind::SmmuV1V2(s) => {
            let irqs = |v: &[vsva_iommu::acpi::iort::SmmuInterrupt]| {
                J::Arr(v.iter().map(|i| J::Num(i.gsiv().into())).collect())
            };
            vec![
                ("base_address", J::hex(s.base_address())),
                ("span", J::hex(s.span())),
                ("model", J::Str(format!("{:?}", s.model()))),
                ("flags", flags_json!(s.flags())),
                ("global_interrupts", irqs(s.global_interrupts())),
                ("context_interrupts", irqs(s.context_interrupts())),
                ("pmu_interrupts", irqs(s.pmu_interrupts())),
            ]
        }
        NodeKind::SmmuV3(s) => vec![
            ("base_address", J::hex(s.base_address())),
            ("flags", flags_json!(s.flags())),
            ("httu_override", J::Str(format!("{:?}", s.httu_override()))),
            ("vatos_address", J::hex(s.vatos_address())),
            ("model", J::Str(format!("{:?}", s.model()))),
            ("event_gsiv", J::Num(s.event_gsiv().into())),
            ("pri_gsiv", J::Num(s.pri_gsiv().into())),
            ("gerr_gsiv", J::Num(s.gerr_gsiv().into())),
            ("sync_gsiv", J::Num(s.sync_gsiv().into())),
            (
                "proximity_domain",
                s.proximity_domain().map_or(J::Null, |v| J::Num(v.into())),
            ),
            (
                "device_id_mapping_index",
                s.device_id_mapping_index()
                    .map_or(J::Null, |v| J::Num(v.into())),
            ),
        ],
        NodeKind::Pmcg(p) => vec![
            ("page0_base_address", J::hex(p.page0_base_address())),
            (
                "page1_base_address",
                p.page1_base_address().map_or(J::Null, J::hex),
            ),
            (
                "overflow_interrupt_gsiv",
                J::Num(p.overflow_interrupt_gsiv().into()),
            ),
            ("node_reference", J::Num(p.node_reference().into())),
        ],
        NodeKind::Rmr(r) => vec![
            ("flags", flags_json!(r.flags())),
            ("access_attributes", J::Num(r.access_attributes().into())),
            (
                "memory_ranges",
                J::Arr(
                    r.memory_ranges()
                        .iter()
                        .map(|d| {
                            J::obj([
                                ("base_address", J::hex(d.base_address())),
                                ("length", J::hex(d.length())),
                            ])
                        })
                        .collect(),
                ),
            ),
        ],
        NodeKind::Iwb(w) => vec![
            ("config_frame_base", J::hex(w.config_frame_base())),
            ("iwb_index", J::Num(w.iwb_index().into())),
            ("device_object_name", J::Str(latin1(w.device_object_name()))),
        ],
        NodeKind::Unknown(_) => vec![],
    }
}

/// Resolves the first ID of every root complex mapping: a compact picture of where PCI
/// requester IDs go.
fn rid_resolutions(iort: &Iort<'_>) -> Vec<(u32, u32, Result<IdResolution, AcpiError>)> {
    let mut out = Vec::new();
    for n in iort.nodes() {
        if let NodeKind::RootComplex(rc) = n.kind() {
            for m in n.id_mappings() {
                let rid = m.input_base();
                out.push((
                    rc.pci_segment_number(),
                    rid,
                    iort.resolve_id(n.offset(), rid),
                ));
            }
        }
    }
    out
}

fn iort_text(name: &str, t: &Iort<'_>) -> String {
    let mut o = header_line(name, t.header(), t.checksum_valid());
    let _ = writeln!(
        o,
        "  {} node(s) from offset {:#x}",
        t.node_count(),
        t.node_array_offset()
    );
    for n in t.nodes() {
        let details: Vec<String> = node_details(&n)
            .into_iter()
            .filter(|(_, v)| !matches!(v, J::Null))
            .map(|(k, v)| {
                let mut s = String::new();
                v.write(&mut s, usize::MAX);
                format!("{k} {s}")
            })
            .collect();
        let _ = writeln!(
            o,
            "  {} @{:#x} rev {} id {}: {}",
            node_type_name(n.node_type()),
            n.offset(),
            n.revision(),
            n.identifier(),
            details.join(", ")
        );
        for m in n.id_mappings() {
            let _ = writeln!(o, "    map {}", mapping_text(m));
        }
    }
    for (seg, rid, r) in rid_resolutions(t) {
        let _ = match r {
            Ok(r) => {
                let mut line = format!("  RID {seg:04x}:{rid:04x}");
                if let Some(s) = r.smmu {
                    let _ = write!(
                        line,
                        " -> SMMU {:#x} StreamID {:#x}",
                        s.base_address, s.stream_id
                    );
                }
                match r.its_group {
                    Some(i) => {
                        let _ = write!(
                            line,
                            " -> ITS group @{:#x} DeviceID {:#x}",
                            i.node_offset, i.device_id
                        );
                    }
                    None => line.push_str(" (no ITS mapping)"),
                }
                writeln!(o, "{line}")
            }
            Err(e) => writeln!(o, "  RID {seg:04x}:{rid:04x}: {e}"),
        };
    }
    o
}

fn iort_json(name: &str, t: &Iort<'_>) -> J {
    let mut fields = header_json(name, t.header(), t.checksum_valid());
    fields.push(("node_count", J::Num(t.node_count().into())));
    fields.push(("node_array_offset", J::Num(t.node_array_offset().into())));
    let nodes = t
        .nodes()
        .map(|n| {
            let mut f = vec![
                ("type", J::Str(node_type_name(n.node_type()))),
                ("offset", J::Num(n.offset() as u64)),
                ("length", J::Num(n.length().into())),
                ("revision", J::Num(n.revision().into())),
                ("identifier", J::Num(n.identifier().into())),
            ];
            f.extend(node_details(&n));
            let maps = n
                .id_mappings()
                .iter()
                .map(|m| {
                    J::obj([
                        ("input_base", J::Num(m.input_base().into())),
                        ("id_count", J::Num(m.id_count())),
                        ("output_base", J::Num(m.output_base().into())),
                        ("output_reference", J::Num(m.output_reference().into())),
                        ("single_mapping", J::Bool(m.is_single())),
                    ])
                })
                .collect();
            f.push(("id_mappings", J::Arr(maps)));
            J::Obj(f)
        })
        .collect();
    fields.push(("nodes", J::Arr(nodes)));
    let res = rid_resolutions(t)
        .into_iter()
        .map(|(seg, rid, r)| {
            let mut f = vec![("segment", J::Num(seg.into())), ("rid", J::Num(rid.into()))];
            match r {
                Ok(r) => {
                    f.push((
                        "smmu_base_address",
                        r.smmu.map_or(J::Null, |s| J::hex(s.base_address)),
                    ));
                    f.push((
                        "stream_id",
                        r.stream_id().map_or(J::Null, |v| J::Num(v.into())),
                    ));
                    f.push((
                        "its_group_offset",
                        r.its_group
                            .map_or(J::Null, |i| J::Num(i.node_offset as u64)),
                    ));
                    f.push((
                        "device_id",
                        r.device_id().map_or(J::Null, |v| J::Num(v.into())),
                    ));
                }
                Err(e) => f.push(("error", J::Str(e.to_string()))),
            }
            J::Obj(f)
        })
        .collect();
    fields.push(("rid_resolutions", J::Arr(res)));
    J::Obj(fields)
}

/// A JSON value, written by hand so xtask needs no serialisation crate.
enum J {
    Null,
    Bool(bool),
    Num(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    fn str(s: &str) -> J {
        J::Str(s.to_string())
    }
    fn hex(v: u64) -> J {
        J::Str(format!("{v:#x}"))
    }
    fn obj<const N: usize>(f: [(&'static str, J); N]) -> J {
        J::Obj(f.into_iter().collect())
    }

    /// Writes the value; `indent == usize::MAX` writes it on one line.
    fn write(&self, out: &mut String, indent: usize) {
        let pretty = indent != usize::MAX;
        let pad = |out: &mut String, n: usize| {
            if pretty {
                out.push('\n');
                out.extend(std::iter::repeat_n("  ", n));
            }
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => {
                let _ = write!(out, "{n}");
            }
            J::Str(s) => write_str(out, s),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if !pretty {
                            out.push(' ');
                        }
                    }
                    pad(out, indent.saturating_add(1));
                    v.write(out, if pretty { indent + 1 } else { indent });
                }
                pad(out, indent);
                out.push(']');
            }
            J::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            J::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                        if !pretty {
                            out.push(' ');
                        }
                    }
                    pad(out, indent.saturating_add(1));
                    write_str(out, k);
                    out.push_str(": ");
                    v.write(out, if pretty { indent + 1 } else { indent });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(sub: &str) -> Vec<PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/acpi-tables")
            .join(sub);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("shared ACPI tables missing at {}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "bin"))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn decodes_every_shared_table_as_text_and_json() {
        for sub in ["dmar", "iort"] {
            for f in shared(sub) {
                let bytes = std::fs::read(&f).unwrap();
                let name = f.display().to_string();
                for json in [false, true] {
                    assert!(decode(&name, &bytes, json).is_ok(), "{name}");
                }
            }
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        J::obj([("a", J::str("q\"\\\u{1}é"))]).write(&mut s, usize::MAX);
        assert_eq!(s, "{\"a\": \"q\\\"\\\\\\u0001é\"}");
    }

    #[test]
    fn damaged_file_is_reported_with_offset_and_run_fails() {
        let dir = std::env::temp_dir().join(format!("vsva-xtask-acpi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = shared("dmar").into_iter().next().unwrap();
        let mut bytes = std::fs::read(&good).unwrap();
        bytes[48 + 2] = 0; // first structure's length := 0
        bytes[48 + 3] = 0;
        let bad = dir.join("bad-DMAR.bin");
        std::fs::write(&bad, &bytes).unwrap();
        match decode("bad", &bytes, true) {
            Err(Failure::Parse(AcpiError::ZeroLength { offset: 48 })) => {}
            _ => panic!("zero-length structure not reported"),
        }
        assert!(run(&[good, bad], true).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
