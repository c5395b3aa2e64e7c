//! The C header (`include/vsva.h`) must say what the Rust ABI says: the host's
//! C compiler checks its constants, the boot-information layout and every vSVA
//! struct's layout against values taken from `vsva_abi` (and `vsva_guest` for
//! the values only it names) here.

use std::process::Command;

use vsva_abi::sva::{
    BindCdTable, BindFlags, BindStage1, CdTableConfig, CdTableFlags, EVENT_RECORD_SIZE, EntryFlags,
    EventKind, EventQueue, EventRecord, FaultReason, Install, Invalidate, InvalidateEntry,
    InvalidateKind, IommuKind, MAX_EVENT_ENTRIES, MAX_INVALIDATIONS, MAX_STRUCT_SIZE, PageResponse,
    Pasid, QueueOp, RecordFlags, ResponseCode, ResponseFlags, RingHeader, Stage1Format,
    Stage1Formats, SvaCaps, SvaInfo, SvaStruct, TABLE_WINDOW_BASE, TABLE_WINDOW_SIZE,
    UnbindCdTable, UnbindStage1,
};
use vsva_abi::{
    BOOT_MAGIC, BootInfo, CALLS, CMDLINE_MAX, CONFIG_WINDOW_BASE, CONSOLE_MAX, Call, HvError,
    VERSION,
};
use vsva_guest::sva::{CdTableFormat, DefaultSubstream};

/// The C name of each call's function ID.
fn call_macro(call: Call) -> &'static str {
    match call {
        Call::Version => "VSVA_VERSION",
        Call::ConsoleWrite => "VSVA_CONSOLE_WRITE",
        Call::Exit => "VSVA_EXIT",
        Call::Yield => "VSVA_YIELD",
        Call::VcpuStart => "VSVA_VCPU_START",
        Call::SvaInfo => "VSVA_SVA_INFO",
        Call::PasidAlloc => "VSVA_PASID_ALLOC",
        Call::PasidFree => "VSVA_PASID_FREE",
        Call::BindStage1 => "VSVA_BIND_STAGE1",
        Call::UnbindStage1 => "VSVA_UNBIND_STAGE1",
        Call::BindCdTable => "VSVA_BIND_CD_TABLE",
        Call::UnbindCdTable => "VSVA_UNBIND_CD_TABLE",
        Call::Invalidate => "VSVA_INVALIDATE",
        Call::EventQueue => "VSVA_EVENT_QUEUE",
        Call::PageResponse => "VSVA_PAGE_RESPONSE",
    }
}

/// The C name of each error code.
const ERRORS: [(&str, HvError); 9] = [
    ("VSVA_EUNKNOWN_CALL", HvError::UnknownCall),
    ("VSVA_EBAD_ARGUMENT", HvError::BadArgument),
    ("VSVA_ENOT_PERMITTED", HvError::NotPermitted),
    ("VSVA_ENO_RESOURCES", HvError::NoResources),
    ("VSVA_EUNSUPPORTED", HvError::Unsupported),
    ("VSVA_ENOT_FOUND", HvError::NotFound),
    ("VSVA_EBUSY", HvError::Busy),
    ("VSVA_ETOO_BIG", HvError::TooBig),
    ("VSVA_EIOMMU_ERROR", HvError::IommuError),
];

/// A field of a C struct: name, offset, size in bytes.
type Field = (&'static str, usize, usize);

/// Each vSVA struct: its C name, its Rust size, and every field with the
/// offset and size the tables in `abi/src/sva/structs.rs` document.
fn layouts() -> Vec<(&'static str, usize, Vec<Field>)> {
    vec![
        (
            "vsva_sva_info",
            SvaInfo::SIZE,
            vec![
                ("size", 0, 4),
                ("device", 4, 4),
                ("iommu", 8, 4),
                ("install", 12, 4),
                ("caps", 16, 8),
                ("formats", 24, 8),
                ("pasid_bits", 32, 1),
                ("cd_max", 33, 1),
                ("input_bits", 34, 1),
                ("output_bits", 35, 1),
                ("max_invalidations", 36, 4),
                ("asid_bits", 40, 1),
                ("reserved", 41, 7),
            ],
        ),
        (
            "vsva_pasid",
            Pasid::SIZE,
            vec![
                ("size", 0, 4),
                ("flags", 4, 4),
                ("pasid", 8, 4),
                ("reserved", 12, 4),
            ],
        ),
        (
            "vsva_bind_stage1",
            BindStage1::SIZE,
            vec![
                ("size", 0, 4),
                ("device", 4, 4),
                ("flags", 8, 4),
                ("pasid", 12, 4),
                ("format", 16, 4),
                ("input_bits", 20, 4),
                ("root", 24, 8),
                ("mair", 32, 8),
                ("walk", 40, 4),
                ("reserved", 44, 4),
            ],
        ),
        (
            "vsva_unbind_stage1",
            UnbindStage1::SIZE,
            vec![
                ("size", 0, 4),
                ("device", 4, 4),
                ("flags", 8, 4),
                ("pasid", 12, 4),
            ],
        ),
        (
            "vsva_bind_cd_table",
            BindCdTable::SIZE,
            vec![
                ("size", 0, 4),
                ("device", 4, 4),
                ("config", 8, 4),
                ("flags", 12, 4),
                ("format", 16, 4),
                ("cd_max", 20, 4),
                ("default_substream", 24, 4),
                ("walk", 28, 4),
                ("table", 32, 8),
            ],
        ),
        (
            "vsva_unbind_cd_table",
            UnbindCdTable::SIZE,
            vec![("size", 0, 4), ("device", 4, 4)],
        ),
        (
            "vsva_invalidate",
            Invalidate::SIZE,
            vec![
                ("size", 0, 4),
                ("entry_size", 4, 4),
                ("count", 8, 4),
                ("flags", 12, 4),
                ("entries", 16, 8),
            ],
        ),
        (
            "vsva_event_queue",
            EventQueue::SIZE,
            vec![
                ("size", 0, 4),
                ("op", 4, 4),
                ("ring", 8, 8),
                ("entries", 16, 4),
                ("intid", 20, 4),
                ("dropped", 24, 8),
                ("lost", 32, 8),
                ("open_requests", 40, 4),
                ("reserved", 44, 4),
            ],
        ),
        (
            "vsva_ring_header",
            RingHeader::SIZE,
            vec![
                ("producer", 0, 4),
                ("consumer", 4, 4),
                ("entries", 8, 4),
                ("record_size", 12, 4),
                ("reserved", 16, 48),
            ],
        ),
        (
            "vsva_event_record",
            EventRecord::SIZE,
            vec![
                ("sequence", 0, 4),
                ("kind", 4, 2),
                ("flags", 6, 2),
                ("device", 8, 4),
                ("pasid", 12, 4),
                ("address", 16, 8),
                ("reason", 24, 4),
                ("group", 28, 4),
                ("lost", 32, 4),
                ("reserved", 36, 4),
                ("private0", 40, 8),
                ("private1", 48, 8),
                ("reserved2", 56, 8),
            ],
        ),
        (
            "vsva_page_response",
            PageResponse::SIZE,
            vec![
                ("size", 0, 4),
                ("device", 4, 4),
                ("flags", 8, 4),
                ("pasid", 12, 4),
                ("group", 16, 4),
                ("code", 20, 4),
            ],
        ),
        (
            "vsva_invalidate_entry",
            InvalidateEntry::SIZE,
            vec![
                ("kind", 0, 1),
                ("flags", 1, 1),
                ("asid", 2, 2),
                ("device", 4, 4),
                ("pasid", 8, 4),
                ("reserved", 12, 4),
                ("address", 16, 8),
                ("size", 24, 8),
            ],
        ),
    ]
}

/// Every vSVA flag and enum value: C name, Rust value.
fn sva_values() -> Vec<(&'static str, u64)> {
    vec![
        ("VSVA_ABI_VERSION", VERSION),
        ("VSVA_CONFIG_WINDOW_BASE", CONFIG_WINDOW_BASE),
        ("VSVA_TABLE_WINDOW_BASE", TABLE_WINDOW_BASE),
        ("VSVA_TABLE_WINDOW_SIZE", TABLE_WINDOW_SIZE),
        ("VSVA_MAX_STRUCT_SIZE", MAX_STRUCT_SIZE.into()),
        ("VSVA_MAX_INVALIDATIONS", MAX_INVALIDATIONS.into()),
        ("VSVA_INV_ENTRY_SIZE", InvalidateEntry::SIZE as u64),
        ("VSVA_IOMMU_VTD", IommuKind::Vtd as u64),
        ("VSVA_IOMMU_SMMUV3", IommuKind::SmmuV3 as u64),
        ("VSVA_INSTALL_NESTED", Install::Nested as u64),
        ("VSVA_INSTALL_SHADOW", Install::Shadow as u64),
        ("VSVA_CAP_BIND", SvaCaps::BIND.bits()),
        ("VSVA_CAP_BIND_PASID", SvaCaps::BIND_PASID.bits()),
        ("VSVA_CAP_CD_TABLE", SvaCaps::CD_TABLE.bits()),
        ("VSVA_CAP_PASID_EXEC", SvaCaps::PASID_EXEC.bits()),
        ("VSVA_CAP_PASID_PRIV", SvaCaps::PASID_PRIV.bits()),
        ("VSVA_CAP_PRI", SvaCaps::PRI.bits()),
        ("VSVA_CAP_X86_SRE", SvaCaps::X86_SRE.bits()),
        ("VSVA_CAP_X86_WPE", SvaCaps::X86_WPE.bits()),
        ("VSVA_CAP_X86_EAFE", SvaCaps::X86_EAFE.bits()),
        ("VSVA_FORMATS_X86_4LEVEL", Stage1Formats::X86_4LEVEL.bits()),
        ("VSVA_FORMATS_X86_5LEVEL", Stage1Formats::X86_5LEVEL.bits()),
        (
            "VSVA_FORMATS_X86_1G_PAGES",
            Stage1Formats::X86_1G_PAGES.bits(),
        ),
        ("VSVA_FORMATS_VMSA_4K", Stage1Formats::VMSA_4K.bits()),
        ("VSVA_FORMATS_VMSA_16K", Stage1Formats::VMSA_16K.bits()),
        ("VSVA_FORMATS_VMSA_64K", Stage1Formats::VMSA_64K.bits()),
        (
            "VSVA_S1_FORMAT_X86_4LEVEL",
            Stage1Format::X86FourLevel as u64,
        ),
        (
            "VSVA_S1_FORMAT_X86_5LEVEL",
            Stage1Format::X86FiveLevel as u64,
        ),
        ("VSVA_S1_FORMAT_VMSA_4K", Stage1Format::Vmsa4K as u64),
        ("VSVA_S1_FORMAT_VMSA_16K", Stage1Format::Vmsa16K as u64),
        ("VSVA_S1_FORMAT_VMSA_64K", Stage1Format::Vmsa64K as u64),
        ("VSVA_BIND_PASID", BindFlags::PASID.bits().into()),
        ("VSVA_BIND_X86_SRE", BindFlags::X86_SRE.bits().into()),
        ("VSVA_BIND_X86_WPE", BindFlags::X86_WPE.bits().into()),
        ("VSVA_BIND_X86_EAFE", BindFlags::X86_EAFE.bits().into()),
        ("VSVA_BIND_VMSA_TBI", BindFlags::VMSA_TBI.bits().into()),
        ("VSVA_CD_CONFIG_ABORT", CdTableConfig::Abort as u64),
        ("VSVA_CD_CONFIG_BYPASS", CdTableConfig::Bypass as u64),
        ("VSVA_CD_CONFIG_TRANSLATE", CdTableConfig::Translate as u64),
        ("VSVA_CD_FORMAT_LINEAR", CdTableFormat::Linear as u64),
        ("VSVA_CD_FORMAT_2L_4K", CdTableFormat::TwoLevel4K as u64),
        ("VSVA_CD_FORMAT_2L_64K", CdTableFormat::TwoLevel64K as u64),
        ("VSVA_CD_DSS_TERMINATE", DefaultSubstream::Terminate as u64),
        ("VSVA_CD_DSS_BYPASS", DefaultSubstream::Bypass as u64),
        (
            "VSVA_CD_DSS_SUBSTREAM0",
            DefaultSubstream::Substream0 as u64,
        ),
        ("VSVA_INV_IOTLB_RANGE", InvalidateKind::IotlbRange as u64),
        ("VSVA_INV_IOTLB_ALL", InvalidateKind::IotlbAll as u64),
        ("VSVA_INV_PASID_CACHE", InvalidateKind::PasidCache as u64),
        (
            "VSVA_INV_PASID_CACHE_ALL",
            InvalidateKind::PasidCacheAll as u64,
        ),
        ("VSVA_INV_DEVICE_TLB", InvalidateKind::DeviceTlb as u64),
        ("VSVA_INV_FLAG_PASID", EntryFlags::PASID.bits().into()),
        ("VSVA_INV_FLAG_LEAF", EntryFlags::LEAF.bits().into()),
        ("VSVA_INV_FLAG_ASID", EntryFlags::ASID.bits().into()),
        ("VSVA_CAP_STALL", SvaCaps::STALL.bits()),
        ("VSVA_CD_STALL", CdTableFlags::STALL.bits().into()),
        ("VSVA_QUEUE_QUERY", QueueOp::Query as u64),
        ("VSVA_QUEUE_REGISTER", QueueOp::Register as u64),
        ("VSVA_QUEUE_UNREGISTER", QueueOp::Unregister as u64),
        ("VSVA_MAX_EVENT_ENTRIES", MAX_EVENT_ENTRIES.into()),
        ("VSVA_EVENT_RECORD_SIZE", EVENT_RECORD_SIZE),
        ("VSVA_EVENT_FAULT", EventKind::Fault as u64),
        ("VSVA_EVENT_STAGE2_FAULT", EventKind::Stage2Fault as u64),
        ("VSVA_EVENT_PAGE_REQUEST", EventKind::PageRequest as u64),
        ("VSVA_EVENT_STALL", EventKind::Stall as u64),
        ("VSVA_RECORD_PASID", RecordFlags::PASID.bits().into()),
        ("VSVA_RECORD_READ", RecordFlags::READ.bits().into()),
        ("VSVA_RECORD_WRITE", RecordFlags::WRITE.bits().into()),
        ("VSVA_RECORD_EXEC", RecordFlags::EXEC.bits().into()),
        ("VSVA_RECORD_PRIV", RecordFlags::PRIV.bits().into()),
        ("VSVA_RECORD_LAST", RecordFlags::LAST.bits().into()),
        ("VSVA_RECORD_LOST", RecordFlags::LOST.bits().into()),
        ("VSVA_RECORD_PRIVATE", RecordFlags::PRIVATE.bits().into()),
        ("VSVA_REASON_NOT_PRESENT", FaultReason::NotPresent as u64),
        ("VSVA_REASON_PERMISSION", FaultReason::Permission as u64),
        ("VSVA_REASON_BAD_TABLE", FaultReason::BadTable as u64),
        (
            "VSVA_REASON_OUTSIDE_PARTITION",
            FaultReason::OutsidePartition as u64,
        ),
        (
            "VSVA_REASON_NOT_CONFIGURED",
            FaultReason::NotConfigured as u64,
        ),
        ("VSVA_REASON_OTHER", FaultReason::Other as u64),
        ("VSVA_RESPONSE_PASID", ResponseFlags::PASID.bits().into()),
        ("VSVA_RESPONSE_STALL", ResponseFlags::STALL.bits().into()),
        ("VSVA_RESPONSE_SUCCESS", ResponseCode::Success as u64),
        ("VSVA_RESPONSE_INVALID", ResponseCode::Invalid as u64),
        ("VSVA_RESPONSE_FAILURE", ResponseCode::Failure as u64),
    ]
}

/// Calls every inline function of the header, so that they compile.
const USE_EVERYTHING: &str = r#"
int use(void)
{
	struct vsva_sva_info info = { .size = sizeof(info), .device = 8 };
	struct vsva_pasid pasid = { .size = sizeof(pasid) };
	struct vsva_bind_stage1 bind = { .size = sizeof(bind), .flags = VSVA_BIND_PASID,
					 .format = VSVA_S1_FORMAT_X86_4LEVEL, .input_bits = 48 };
	struct vsva_unbind_stage1 unbind = { .size = sizeof(unbind) };
	struct vsva_bind_cd_table cd = { .size = sizeof(cd), .config = VSVA_CD_CONFIG_TRANSLATE };
	struct vsva_unbind_cd_table uncd = { .size = sizeof(uncd) };
	struct vsva_invalidate_entry entries[2] = {
		{ .kind = VSVA_INV_IOTLB_ALL },
		{ .kind = VSVA_INV_PASID_CACHE_ALL },
	};
	struct vsva_invalidate inv = { .size = sizeof(inv), .entry_size = sizeof(entries[0]),
				       .count = 2, .entries = (uint64_t)(uintptr_t)entries };
	int64_t status = vsva_sva_info(&info) | vsva_pasid_alloc(&pasid) |
			 vsva_pasid_free(&pasid) | vsva_bind_stage1(&bind) |
			 vsva_unbind_stage1(&unbind) | vsva_bind_cd_table(&cd) |
			 vsva_unbind_cd_table(&uncd) | vsva_invalidate(&inv);
	struct vsva_event_queue queue = { .size = sizeof(queue), .op = VSVA_QUEUE_QUERY };
	struct vsva_page_response response = { .size = sizeof(response),
						.code = VSVA_RESPONSE_SUCCESS };
	status |= vsva_event_queue(&queue) | vsva_page_response(&response);
	status |= vsva_console_write("x", 1);
	vsva_exit(0);
	return (int)status;
}
"#;

#[test]
fn the_c_header_matches_the_rust_abi() {
    let header = concat!(env!("CARGO_MANIFEST_DIR"), "/include/vsva.h");
    let mut checks: Vec<(String, u64)> = vec![
        ("VSVA_CONSOLE_MAX".into(), CONSOLE_MAX),
        ("VSVA_CMDLINE_MAX".into(), CMDLINE_MAX as u64),
        ("VSVA_BOOT_MAGIC".into(), BOOT_MAGIC),
        (
            "sizeof(struct vsva_boot_info)".into(),
            BootInfo::SIZE as u64,
        ),
        ("offsetof(struct vsva_boot_info, cmdline_len)".into(), 72),
        ("offsetof(struct vsva_boot_info, cmdline)".into(), 80),
    ];
    for call in CALLS {
        checks.push((call_macro(call).into(), call.function_id().into()));
    }
    for (name, error) in ERRORS {
        checks.push((format!("(uint64_t)-{name}"), (-error.status()) as u64));
    }
    for (name, value) in sva_values() {
        checks.push((name.into(), value));
    }
    for (name, size, fields) in layouts() {
        checks.push((format!("sizeof(struct {name})"), size as u64));
        let mut end = 0;
        for (field, offset, bytes) in fields {
            checks.push((format!("offsetof(struct {name}, {field})"), offset as u64));
            checks.push((
                format!("sizeof(((struct {name} *)0)->{field})"),
                bytes as u64,
            ));
            // The table itself leaves no gap and ends at the Rust size.
            assert_eq!(
                offset, end,
                "{name}.{field}: a gap in the documented layout"
            );
            end = offset + bytes;
        }
        assert_eq!(end, size, "{name}: the documented fields do not fill SIZE");
    }
    let mut source = format!("#include <stddef.h>\n#include \"{header}\"\n");
    for (expr, value) in checks {
        source.push_str(&format!(
            "_Static_assert((uint64_t)({expr}) == {value}ull, \"{expr} is not {value}\");\n"
        ));
    }
    // The inline functions must compile too.
    source.push_str(USE_EVERYTHING);
    let dir = std::env::temp_dir().join(format!("vsva-c-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("check.c");
    std::fs::write(&file, source).unwrap();
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&compiler)
        .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only"])
        .arg(&file)
        .output()
        .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
