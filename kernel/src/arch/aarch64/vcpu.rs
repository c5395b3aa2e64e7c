//! Guest vCPUs at EL1 under vsva at EL2: the world switch, the EL1 and GIC
//! virtual-interface state each vCPU owns, stage-2 and trap configuration,
//! and the decoding of every exit into an architecture-neutral [`Exit`].
//!
//! Rules used (Arm ARM DDI 0487): HCR_EL2 (D24.2.48) VM enables stage 2, IMO/
//! FMO/AMO route physical interrupts to EL2 and make EL1's GIC CPU interface
//! the virtual one, TWI traps WFI, TSC traps SMC, RW makes EL1 AArch64;
//! VTCR_EL2 (D24.2.197) and VTTBR_EL2 (D24.2.198, VMID in 55:48); ESR_EL2 ISS
//! for data aborts (D24.2.46) with HPFAR_EL2.FIPA (D24.2.52) giving the IPA;
//! the GICv3 list registers ICH_LR<n>_EL2 (GIC spec IHI 0069 §12.4.6);
//! the EL2 physical timer CNTHP_* as the preemption timer (D11.2).

use core::arch::global_asm;
use core::mem::offset_of;

use alloc::format;
use alloc::string::String;

use vsva_iommu::smmuv3::pagetable::{Attributes, Granule, Permissions, Stage2Table};

use crate::arch::Stage2Error;
use crate::arch::aarch64::exceptions::{FaultStatus, ec};
use crate::arch::dma::KernelDma;
pub use crate::arch::{Exit, MapKind};

/// General registers, PC and PSTATE as the guest left them.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestGprs {
    pub x: [u64; 31],
    pub pc: u64,
    pub pstate: u64,
}

/// FP/SIMD state: the whole register file, which guests compiled for
/// AArch64 use freely.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct FpState {
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

/// What the world switch saves of the host: the callee-saved registers of
/// the procedure-call standard, its stack, and its FP control.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct HostState {
    x19_x30: [u64; 12],
    sp: u64,
    d8_d15: [u64; 8],
    fpsr: u64,
    fpcr: u64,
}

/// The syndrome registers of the last exit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct ExitRegs {
    esr: u64,
    far: u64,
    hpfar: u64,
}

/// What the assembly reads and writes; `#[repr(C)]` with offsets taken by
/// `offset_of!` so the two cannot drift apart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct SwitchFrame {
    gprs: GuestGprs,
    fp: FpState,
    host: HostState,
    exit: ExitRegs,
}

/// EL1 system registers a guest owns: switched by vsva in Rust, since EL2
/// code never uses them itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct El1State {
    sctlr: u64,
    tcr: u64,
    ttbr0: u64,
    ttbr1: u64,
    mair: u64,
    amair: u64,
    vbar: u64,
    contextidr: u64,
    tpidr_el1: u64,
    tpidr_el0: u64,
    tpidrro_el0: u64,
    sp_el0: u64,
    sp_el1: u64,
    elr: u64,
    spsr: u64,
    esr: u64,
    far: u64,
    afsr0: u64,
    afsr1: u64,
    par: u64,
    cpacr: u64,
    cntkctl: u64,
    cntv_ctl: u64,
    cntv_cval: u64,
    mdscr: u64,
    csselr: u64,
}

/// The GICv3 virtual CPU interface state of a vCPU (ICH_* registers).
#[derive(Clone, Copy, Debug, Default)]
struct VgicState {
    lr: [u64; MAX_LRS],
    vmcr: u64,
    /// Active priorities, Group 0 and Group 1 (with 5 priority bits, only
    /// register 0 of each is implemented; QEMU's and the GIC-600's).
    ap0r0: u64,
    ap1r0: u64,
}

/// List registers vsva uses at most (the architecture allows 16).
const MAX_LRS: usize = 4;

/// ICH_LR<n>_EL2 fields (IHI 0069 §12.4.6): State (63:62), HW (61), Group
/// (60), Priority (55:48), vINTID (31:0).
const LR_STATE_SHIFT: u64 = 62;
const LR_STATE_PENDING: u64 = 0b01 << LR_STATE_SHIFT;
const LR_GROUP1: u64 = 1 << 60;
const LR_PRIORITY: u64 = 0xa0 << 48;
/// ICH_HCR_EL2.En: the virtual CPU interface is on.
const ICH_HCR_EN: u64 = 1;

/// HCR_EL2 for running guests: VM (0), SWIO (1), FMO (3), IMO (4), AMO (5),
/// TWI (13), TSC (19), TIDCP (20: implementation-defined registers), TACR
/// (21: ACTLR_EL1, not switched), RW (31).
const HCR_GUEST: u64 = (1 << 0)
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 13)
    | (1 << 19)
    | (1 << 20)
    | (1 << 21)
    | (1 << 31);
/// SCTLR_EL1 at vCPU reset: the RES1 bits of ARMv8.0 (11, 20, 22, 23, 28, 29),
/// MMU and caches off, little-endian.
const SCTLR_EL1_RESET: u64 = 0x30d0_0800;
/// CPACR_EL1.FPEN = 0b11: FP/SIMD usable at EL1 and EL0 from the start.
const CPACR_FP: u64 = 0b11 << 20;
/// SPSR for entry at EL1h with D, A, I, F masked (Arm ARM C5.2.19).
const SPSR_EL1H_MASKED: u64 = 0b0101 | (0xf << 6);
/// MDCR_EL2 (D24.2.97): TPMCR (5), TPM (6), TDA (9), TDOSA (10), TDRA (11):
/// guests' debug and performance-monitor register accesses trap to EL2 (and
/// stop the partition), since vsva does not switch that state.
const MDCR_GUEST: u64 = (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10) | (1 << 11);
/// CNTHCTL_EL2 (E2H = 0): EL1PCTEN (0) lets EL1 read the physical counter;
/// EL1PCEN (1) clear traps its physical timer (guests use the virtual one).
const CNTHCTL_GUEST: u64 = 1 << 0;

/// The virtual timer's PPI and the EL2 physical timer's (BSA: 27 and 26).
pub const VIRTUAL_TIMER_INTID: u32 = 27;
pub const HYP_TIMER_INTID: u32 = 26;

global_asm!(
    ".pushsection .text.vcpu, \"ax\"",
    ".global vsva_vcpu_run",
    // x0: *mut SwitchFrame. Returns the vector number of the exit.
    "vsva_vcpu_run:",
    "    add x9, x0, #{host}",
    "    stp x19, x20, [x9, #0]",
    "    stp x21, x22, [x9, #16]",
    "    stp x23, x24, [x9, #32]",
    "    stp x25, x26, [x9, #48]",
    "    stp x27, x28, [x9, #64]",
    "    stp x29, x30, [x9, #80]",
    "    mov x10, sp",
    "    str x10, [x9, #96]",
    "    stp d8, d9, [x9, #104]",
    "    stp d10, d11, [x9, #120]",
    "    stp d12, d13, [x9, #136]",
    "    stp d14, d15, [x9, #152]",
    "    mrs x10, fpsr",
    "    mrs x11, fpcr",
    "    stp x10, x11, [x9, #168]",
    "    msr tpidr_el2, x0",
    "    add x9, x0, #{fp}",
    "    ldp q0, q1, [x9, #0]",
    "    ldp q2, q3, [x9, #32]",
    "    ldp q4, q5, [x9, #64]",
    "    ldp q6, q7, [x9, #96]",
    "    ldp q8, q9, [x9, #128]",
    "    ldp q10, q11, [x9, #160]",
    "    ldp q12, q13, [x9, #192]",
    "    ldp q14, q15, [x9, #224]",
    "    ldp q16, q17, [x9, #256]",
    "    ldp q18, q19, [x9, #288]",
    "    ldp q20, q21, [x9, #320]",
    "    ldp q22, q23, [x9, #352]",
    "    ldp q24, q25, [x9, #384]",
    "    ldp q26, q27, [x9, #416]",
    "    ldp q28, q29, [x9, #448]",
    "    ldp q30, q31, [x9, #480]",
    "    add x9, x9, #512",
    "    ldp x10, x11, [x9]",
    "    msr fpsr, x10",
    "    msr fpcr, x11",
    "    ldp x10, x11, [x0, #{pc}]",
    "    msr elr_el2, x10",
    "    msr spsr_el2, x11",
    "    ldp x2, x3, [x0, #16]",
    "    ldp x4, x5, [x0, #32]",
    "    ldp x6, x7, [x0, #48]",
    "    ldp x8, x9, [x0, #64]",
    "    ldp x10, x11, [x0, #80]",
    "    ldp x12, x13, [x0, #96]",
    "    ldp x14, x15, [x0, #112]",
    "    ldp x16, x17, [x0, #128]",
    "    ldp x18, x19, [x0, #144]",
    "    ldp x20, x21, [x0, #160]",
    "    ldp x22, x23, [x0, #176]",
    "    ldp x24, x25, [x0, #192]",
    "    ldp x26, x27, [x0, #208]",
    "    ldp x28, x29, [x0, #224]",
    "    ldr x30, [x0, #240]",
    "    ldp x0, x1, [x0, #0]",
    "    eret",
    // Entered from the lower-EL vectors with the guest's x0/x1 pushed on
    // SP_EL2 (the host stack of vsva_vcpu_run, untouched since) and the
    // vector number in x1.
    ".global vsva_vcpu_exit",
    "vsva_vcpu_exit:",
    "    mrs x0, tpidr_el2",
    "    stp x2, x3, [x0, #16]",
    "    stp x4, x5, [x0, #32]",
    "    stp x6, x7, [x0, #48]",
    "    stp x8, x9, [x0, #64]",
    "    stp x10, x11, [x0, #80]",
    "    stp x12, x13, [x0, #96]",
    "    stp x14, x15, [x0, #112]",
    "    stp x16, x17, [x0, #128]",
    "    stp x18, x19, [x0, #144]",
    "    stp x20, x21, [x0, #160]",
    "    stp x22, x23, [x0, #176]",
    "    stp x24, x25, [x0, #192]",
    "    stp x26, x27, [x0, #208]",
    "    stp x28, x29, [x0, #224]",
    "    str x30, [x0, #240]",
    "    ldp x2, x3, [sp], #16",
    "    stp x2, x3, [x0, #0]",
    "    mrs x2, elr_el2",
    "    mrs x3, spsr_el2",
    "    stp x2, x3, [x0, #{pc}]",
    "    add x9, x0, #{exit}",
    "    mrs x2, esr_el2",
    "    mrs x3, far_el2",
    "    stp x2, x3, [x9, #0]",
    "    mrs x2, hpfar_el2",
    "    str x2, [x9, #16]",
    "    add x9, x0, #{fp}",
    "    stp q0, q1, [x9, #0]",
    "    stp q2, q3, [x9, #32]",
    "    stp q4, q5, [x9, #64]",
    "    stp q6, q7, [x9, #96]",
    "    stp q8, q9, [x9, #128]",
    "    stp q10, q11, [x9, #160]",
    "    stp q12, q13, [x9, #192]",
    "    stp q14, q15, [x9, #224]",
    "    stp q16, q17, [x9, #256]",
    "    stp q18, q19, [x9, #288]",
    "    stp q20, q21, [x9, #320]",
    "    stp q22, q23, [x9, #352]",
    "    stp q24, q25, [x9, #384]",
    "    stp q26, q27, [x9, #416]",
    "    stp q28, q29, [x9, #448]",
    "    stp q30, q31, [x9, #480]",
    "    mrs x2, fpsr",
    "    mrs x3, fpcr",
    "    add x9, x9, #512",
    "    stp x2, x3, [x9]",
    "    add x9, x0, #{host}",
    "    ldp x19, x20, [x9, #0]",
    "    ldp x21, x22, [x9, #16]",
    "    ldp x23, x24, [x9, #32]",
    "    ldp x25, x26, [x9, #48]",
    "    ldp x27, x28, [x9, #64]",
    "    ldp x29, x30, [x9, #80]",
    "    ldr x10, [x9, #96]",
    "    mov sp, x10",
    "    ldp d8, d9, [x9, #104]",
    "    ldp d10, d11, [x9, #120]",
    "    ldp d12, d13, [x9, #136]",
    "    ldp d14, d15, [x9, #152]",
    "    ldp x10, x11, [x9, #168]",
    "    msr fpsr, x10",
    "    msr fpcr, x11",
    "    mov x0, x1",
    "    ret",
    ".popsection",
    host = const offset_of!(SwitchFrame, host),
    fp = const offset_of!(SwitchFrame, fp),
    pc = const offset_of!(SwitchFrame, gprs) + offset_of!(GuestGprs, pc),
    exit = const offset_of!(SwitchFrame, exit),
);

const _: () = {
    assert!(offset_of!(SwitchFrame, gprs) == 0);
    assert!(offset_of!(HostState, sp) == 96);
    assert!(offset_of!(HostState, d8_d15) == 104);
    assert!(offset_of!(HostState, fpsr) == 168);
    assert!(offset_of!(FpState, fpsr) == 512);
    assert!(offset_of!(SwitchFrame, fp).is_multiple_of(16));
};

unsafe extern "C" {
    fn vsva_vcpu_run(frame: *mut SwitchFrame) -> u64;
}

/// One guest vCPU.
#[derive(Debug)]
pub struct Vcpu {
    frame: SwitchFrame,
    el1: El1State,
    vgic: VgicState,
    /// VMPIDR_EL2: what the guest reads as MPIDR_EL1.
    vmpidr: u64,
    /// Virtual interrupts waiting for a free list register.
    pending: [u32; 8],
    pending_len: usize,
    /// The register a completed MMIO read goes to (ISS.SRT), and the access
    /// size, from the last Mmio exit.
    mmio_reg: usize,
    /// ISS.SSE (sign-extend), ISS.SF (64-bit register) and the access size
    /// in bytes of the last Mmio exit.
    mmio_sign_extend: bool,
    mmio_64bit: bool,
    mmio_size: u8,
}

/// Per-machine constants read once.
#[derive(Clone, Copy, Debug)]
pub struct VirtCaps {
    /// List registers (ICH_VTR_EL2.ListRegs + 1), capped at [`MAX_LRS`].
    pub list_registers: usize,
}

/// List registers the GIC implements (ICH_VTR_EL2.ListRegs + 1).
fn implemented_list_registers() -> usize {
    let vtr: u64;
    // SAFETY: reads ICH_VTR_EL2, which has no side effects (needs ICC_SRE_EL2.SRE,
    // which the GIC bring-up set).
    unsafe { core::arch::asm!("mrs {}, ich_vtr_el2", out(reg) vtr, options(nomem, nostack)) };
    (vtr & 0x1f) as usize + 1
}

/// What the virtualization hardware offers.
pub fn caps() -> VirtCaps {
    VirtCaps {
        list_registers: implemented_list_registers().min(MAX_LRS),
    }
}

/// Sets what every guest run needs and no host code minds: HCR_EL2 for
/// guests (the host at EL2 is unaffected by its EL1&0 controls), the timer
/// access controls, CNTVOFF_EL2 = 0, and the virtual timer's PPI routed to
/// EL2 so that a guest's timer is noticed while it runs.
pub fn init() -> Result<(), String> {
    // HCR_EL2 is written whole: firmware may leave TGE set (UEFI does),
    // which would make every ERET to EL1 an illegal return. vsva's EL2 code
    // assumes E2H = 0 throughout (boot/src/arch/image.rs), so that stays.
    // SAFETY: EL2 control registers; no memory is touched. HCR_EL2.VM only
    // takes effect at EL1&0, where nothing runs until a vCPU is entered.
    unsafe {
        core::arch::asm!(
            "msr hcr_el2, {hcr}",
            "msr mdcr_el2, {mdcr}",
            "msr cnthctl_el2, {cnthctl}",
            "msr cntvoff_el2, xzr",
            "isb",
            hcr = in(reg) HCR_GUEST,
            mdcr = in(reg) MDCR_GUEST,
            cnthctl = in(reg) CNTHCTL_GUEST,
            options(nomem, nostack)
        );
    }
    // List registers vsva does not use must not hold anything a guest would
    // see: their reset values are UNKNOWN (IHI 0069 §12.4.6).
    for i in 0..implemented_list_registers() {
        // SAFETY: list register i exists (ICH_VTR_EL2.ListRegs).
        unsafe { write_lr(i, 0) };
    }
    for intid in [VIRTUAL_TIMER_INTID, HYP_TIMER_INTID] {
        crate::arch::gic::enable(intid, crate::arch::gic::Trigger::Level)
            .map_err(|e| format!("GIC PPI {intid}: {e:?}"))?;
    }
    Ok(())
}

/// VTCR_EL2 for a stage-2 table with these SMMU-style fields (the formats
/// are the same, SMMUv3 §5.2 mirrors VTCR_EL2): T0SZ (5:0), SL0 (7:6),
/// IRGN0 (9:8), ORGN0 (11:10), SH0 (13:12), TG0 (15:14), PS (18:16), RES1 (31).
fn vtcr(f: &vsva_iommu::smmuv3::pagetable::SteFields) -> u64 {
    u64::from(f.s2t0sz & 0x3f)
        | (u64::from(f.s2sl0 & 3) << 6)
        | (u64::from(f.s2ir0 & 3) << 8)
        | (u64::from(f.s2or0 & 3) << 10)
        | (u64::from(f.s2sh0 & 3) << 12)
        | (u64::from(f.s2tg & 3) << 14)
        | (u64::from(f.s2ps & 7) << 16)
        | (1 << 31)
}

/// A partition's stage-2 context: what VTCR_EL2 and VTTBR_EL2 get.
#[derive(Clone, Copy, Debug)]
struct Stage2Context {
    vtcr: u64,
    /// The root table's physical address.
    root: u64,
    /// 8-bit VMID (VTCR_EL2.VS = 0).
    vmid: u8,
}

/// The stage-2 input size of every partition.
const IPA_BITS: u8 = 40;

/// A partition's stage-2 translation: the VMSAv8-64 stage-2 table (the
/// format SMMUv3 stage 2 uses too, so an SMMU can share it) and the VMID.
#[derive(Debug)]
pub struct Stage2 {
    table: Stage2Table,
    context: Stage2Context,
    /// The vCPU that last ran under this VMID: its stage-1 translations
    /// are cached under the VMID too, so a sibling flushes them first.
    last_vcpu: core::cell::Cell<Option<u8>>,
}

impl Stage2 {
    /// An empty stage 2 for 40-bit IPAs and PAs (4 KiB granule, starting at
    /// level 1 with two concatenated tables; QEMU's SMMU walks the first of
    /// them right, and guest IPAs stay below 2^39).
    pub fn new(vmid: u8) -> Result<Self, Stage2Error> {
        let table = Stage2Table::new(&KernelDma, Granule::Size4K, IPA_BITS, 40)
            .map_err(|error| Stage2Error { range: None, error })?;
        let fields = table.ste_fields(true);
        let context = Stage2Context {
            vtcr: vtcr(&fields),
            root: fields.s2ttb,
            vmid,
        };
        context.invalidate_tlbs();
        Ok(Self {
            table,
            context,
            last_vcpu: core::cell::Cell::new(None),
        })
    }

    /// Maps `[gpa, gpa + len)` to `[hpa, hpa + len)`.
    pub fn map(&mut self, gpa: u64, hpa: u64, len: u64, kind: MapKind) -> Result<(), Stage2Error> {
        let attributes = match kind {
            MapKind::Ram => {
                Attributes::dma(Permissions::READ | Permissions::WRITE | Permissions::EXECUTE)
            }
            MapKind::Device => Attributes::device(Permissions::READ | Permissions::WRITE),
            MapKind::ReadOnly => Attributes::dma(Permissions::READ),
        };
        let change = self
            .table
            .map(&KernelDma, gpa, hpa, len, attributes)
            .map_err(|error| Stage2Error {
                range: Some((gpa, len)),
                error,
            })?;
        // Only new mappings: nothing cached could be stale but the walk
        // caches of tables this replaced, which the VMID flush covers.
        self.context.invalidate_tlbs();
        change.finish(&KernelDma);
        Ok(())
    }

    /// The VMID.
    pub fn vmid(&self) -> u8 {
        self.context.vmid
    }

    /// IPAs are below 2^IPA_BITS.
    pub const IPA_BITS: u8 = IPA_BITS;

    /// The table's fields for an SMMU STE (stage 2 of the same table).
    pub fn smmu_fields(&self, coherent: bool) -> vsva_iommu::smmuv3::pagetable::SteFields {
        self.table.ste_fields(coherent)
    }

    /// Frees the tables after dropping the VMID's TLB entries.
    pub fn destroy(self) {
        self.context.invalidate_tlbs();
        self.table.destroy(&KernelDma).finish(&KernelDma);
    }
}

impl Stage2Context {
    fn vttbr(&self) -> u64 {
        (u64::from(self.vmid) << 48) | (self.root & 0x0000_ffff_ffff_fffe)
    }

    /// Drops every TLB entry of this VMID (after its tables change or before
    /// the VMID is reused): TLBI VMALLS12E1 with VTTBR_EL2 naming it.
    fn invalidate_tlbs(&self) {
        // SAFETY: selects this VMID and invalidates its stage-1 and stage-2
        // entries; VTTBR_EL2 is rewritten before any guest runs again.
        unsafe {
            core::arch::asm!(
                "msr vtcr_el2, {vtcr}",
                "msr vttbr_el2, {vttbr}",
                "isb",
                "dsb ishst",
                "tlbi vmalls12e1",
                "dsb ish",
                "isb",
                vtcr = in(reg) self.vtcr,
                vttbr = in(reg) self.vttbr(),
                options(nostack)
            );
        }
    }
}

impl Vcpu {
    /// A vCPU about to start at `entry` in EL1h, MMU off, interrupts masked,
    /// with `x0` as its first argument; `index` becomes its MPIDR Aff0.
    pub fn new(entry: u64, x0: u64, index: u8) -> Self {
        let mut frame = SwitchFrame::default();
        frame.gprs.pc = entry;
        frame.gprs.pstate = SPSR_EL1H_MASKED;
        frame.gprs.x[0] = x0;
        Self {
            frame,
            el1: El1State {
                sctlr: SCTLR_EL1_RESET,
                cpacr: CPACR_FP,
                ..El1State::default()
            },
            vgic: VgicState::default(),
            // MPIDR bit 31 is RES1; bit 30 (U) clear: part of a multiprocessor.
            vmpidr: (1 << 31) | u64::from(index),
            pending: [0; 8],
            pending_len: 0,
            mmio_reg: 31,
            mmio_sign_extend: false,
            mmio_64bit: true,
            mmio_size: 8,
        }
    }

    /// One line for reports: PC, PSTATE, interrupts in flight, the timer.
    pub fn describe(&self) -> String {
        format!(
            "PC {:#x} PSTATE {:#x}, queued {:?}, LRs {:x?}, VMCR {:#x}, AP1R0 {:#x}, CNTV_CTL {:#x} CVAL {:#x} now {:#x}",
            self.frame.gprs.pc,
            self.frame.gprs.pstate,
            &self.pending[..self.pending_len],
            self.vgic.lr,
            self.vgic.vmcr,
            self.vgic.ap1r0,
            self.el1.cntv_ctl,
            self.el1.cntv_cval,
            counter()
        )
    }

    /// The guest's general registers (x0..x30, PC, PSTATE).
    pub fn gprs(&self) -> &GuestGprs {
        &self.frame.gprs
    }

    /// Sets a call's results: status in x0, value in x1.
    pub fn set_call_result(&mut self, status: i64, value: u64) {
        self.frame.gprs.x[0] = status as u64;
        self.frame.gprs.x[1] = value;
    }

    /// Sets x0..x3 (PSCI returns up to four values).
    pub fn set_results(&mut self, values: [u64; 4]) {
        self.frame.gprs.x[..4].copy_from_slice(&values);
    }

    /// Completes an emulated read: the value goes to the register the
    /// syndrome named (XZR: nowhere).
    pub fn complete_read(&mut self, value: u64) {
        let bits = u32::from(self.mmio_size) * 8;
        let mut value = if bits >= 64 {
            value
        } else {
            value & ((1u64 << bits) - 1)
        };
        // LDRSB/LDRSH/LDRSW (ISS.SSE): sign-extend to the register's width.
        if self.mmio_sign_extend && bits < 64 {
            let shift = 64 - bits;
            value = (((value << shift) as i64) >> shift) as u64;
        }
        // A W register (ISS.SF = 0) is written zero-extended.
        if !self.mmio_64bit {
            value &= 0xffff_ffff;
        }
        if let Some(x) = self.frame.gprs.x.get_mut(self.mmio_reg) {
            *x = value;
        }
    }

    /// Data aborts the syndrome describes arrive as [`Exit::Mmio`] already;
    /// nothing else is decoded.
    pub fn decode_mmio(
        &mut self,
        _read: &mut dyn FnMut(u64, &mut [u8]) -> bool,
    ) -> Option<(u8, Option<u64>)> {
        None
    }

    /// The virtual interrupts [`inject`](Self::inject) delivers for a
    /// guest's own use: PPIs and SPIs, 16..=1019 (SGIs are other vCPUs'
    /// and 1020..=1023 special, IHI 0069 §2.2.1).
    pub const INJECTABLE: (u32, u32) = (16, 1019);

    /// Queues virtual interrupt `intid` (a Group 1 interrupt the guest's CPU
    /// interface will see at its next entry). False when the queue is full.
    pub fn inject(&mut self, intid: u32) -> bool {
        // Already queued, or pending in a list register (the same vINTID in
        // two LRs is UNPREDICTABLE, IHI 0069 §4.8.1).
        let in_lr = self
            .vgic
            .lr
            .iter()
            .any(|lr| lr >> LR_STATE_SHIFT != 0 && (lr & 0xffff_ffff) as u32 == intid);
        if in_lr || self.pending[..self.pending_len].contains(&intid) {
            return true;
        }
        match self.pending.get_mut(self.pending_len) {
            Some(slot) => {
                *slot = intid;
                self.pending_len += 1;
                true
            }
            None => false,
        }
    }

    /// Whether a virtual interrupt is waiting to be taken: queued, pending in
    /// a list register, or the guest's virtual timer has fired.
    pub fn has_interrupt(&self) -> bool {
        self.pending_len > 0
            || self
                .vgic
                .lr
                .iter()
                .any(|lr| (lr >> LR_STATE_SHIFT) & 1 == 1)
            || self.timer_fired(counter())
    }

    /// The guest's virtual timer condition (enabled, unmasked, CVAL reached).
    fn timer_fired(&self, now: u64) -> bool {
        let ctl = self.el1.cntv_ctl;
        ctl & 1 == 1 && ctl & 2 == 0 && now >= self.el1.cntv_cval
    }

    /// Moves queued interrupts into free list registers, and a fired
    /// virtual timer too (masking the timer in the guest's saved copy, so it
    /// does not fire again before the guest reprograms it).
    fn fill_list_registers(&mut self, caps: &VirtCaps) {
        if self.timer_fired(counter()) {
            self.el1.cntv_ctl |= 2;
            let _ = self.inject(VIRTUAL_TIMER_INTID);
        }
        for lr in self.vgic.lr.iter_mut().take(caps.list_registers) {
            if self.pending_len == 0 {
                break;
            }
            if *lr >> LR_STATE_SHIFT == 0 {
                let intid = self.pending[0];
                self.pending.copy_within(1..self.pending_len, 0);
                self.pending_len -= 1;
                *lr = LR_STATE_PENDING | LR_GROUP1 | LR_PRIORITY | u64::from(intid);
            }
        }
    }

    /// Runs the guest until it exits, with `stage2` as its translation and the
    /// EL2 physical timer armed to fire `slice_ticks` from now. Physical IRQs
    /// stay masked from the switch until the timer is disarmed again, so the
    /// host never sees the preemption timer's level interrupt.
    pub fn run(&mut self, stage2: &Stage2, caps: &VirtCaps, slice_ns: u64) -> Exit {
        self.fill_list_registers(caps);
        let slice_ticks = (u128::from(slice_ns) * u128::from(counter_frequency()) / 1_000_000_000)
            .clamp(1, u128::from(u32::MAX >> 1)) as u64;
        let daif = mask_irqs();
        // SAFETY: loads this vCPU's EL1, stage-2 and GIC virtual-interface
        // state; none of it affects EL2 execution.
        unsafe { self.load(&stage2.context, caps) };
        let index = (self.vmpidr & 0xff) as u8;
        if stage2.last_vcpu.replace(Some(index)) != Some(index) {
            // SAFETY: drops this VMID's EL1&0 stage-1 entries (VTTBR_EL2 was
            // just loaded); no memory changes.
            unsafe { core::arch::asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
        }
        arm_preemption_timer(slice_ticks);
        // SAFETY: the frame is this vCPU's, alive and not otherwise borrowed for
        // the call; the assembly saves and restores every register the host's
        // procedure-call standard needs preserved and returns normally.
        let vector = unsafe { vsva_vcpu_run(&raw mut self.frame) };
        disarm_preemption_timer();
        // An asynchronous SError this guest caused may still be pending
        // (SErrors are masked at EL2): take it now, while it is known whose
        // it is, instead of on the next guest's entry (AMO routes it here).
        let serror = take_pending_serror();
        // SAFETY: saves what `load` loaded, before any other vCPU loads its own.
        unsafe { self.save(caps) };
        restore_irqs(daif);
        if serror {
            return Exit::Unhandled(format!(
                "SError (asynchronous external abort) while it ran, PC {:#x}",
                self.frame.gprs.pc
            ));
        }
        self.decode(vector)
    }

    /// # Safety
    /// Only between guest runs, on the CPU that will run this vCPU.
    unsafe fn load(&self, stage2: &Stage2Context, caps: &VirtCaps) {
        let e = &self.el1;
        macro_rules! set {
            ($($reg:literal = $value:expr),* $(,)?) => {
                $(
                    // SAFETY: an EL1 (or EL0) system register of the guest context.
                    unsafe { core::arch::asm!(concat!("msr ", $reg, ", {}"), in(reg) $value, options(nomem, nostack)) };
                )*
            };
        }
        set!(
            "sctlr_el1" = e.sctlr,
            "tcr_el1" = e.tcr,
            "ttbr0_el1" = e.ttbr0,
            "ttbr1_el1" = e.ttbr1,
            "mair_el1" = e.mair,
            "amair_el1" = e.amair,
            "vbar_el1" = e.vbar,
            "contextidr_el1" = e.contextidr,
            "tpidr_el1" = e.tpidr_el1,
            "tpidr_el0" = e.tpidr_el0,
            "tpidrro_el0" = e.tpidrro_el0,
            "sp_el0" = e.sp_el0,
            "sp_el1" = e.sp_el1,
            "elr_el1" = e.elr,
            "spsr_el1" = e.spsr,
            "esr_el1" = e.esr,
            "far_el1" = e.far,
            "afsr0_el1" = e.afsr0,
            "afsr1_el1" = e.afsr1,
            "par_el1" = e.par,
            "cpacr_el1" = e.cpacr,
            "cntkctl_el1" = e.cntkctl,
            "cntv_cval_el0" = e.cntv_cval,
            "cntv_ctl_el0" = e.cntv_ctl,
            "mdscr_el1" = e.mdscr,
            "csselr_el1" = e.csselr,
            "vmpidr_el2" = self.vmpidr,
            "vtcr_el2" = stage2.vtcr,
            "vttbr_el2" = stage2.vttbr(),
            "ich_vmcr_el2" = self.vgic.vmcr,
            "ich_ap0r0_el2" = self.vgic.ap0r0,
            "ich_ap1r0_el2" = self.vgic.ap1r0,
            "ich_hcr_el2" = ICH_HCR_EN,
        );
        for (i, &lr) in self.vgic.lr.iter().enumerate().take(caps.list_registers) {
            // SAFETY: as above, list register i of the implemented ones.
            unsafe { write_lr(i, lr) };
        }
        // SAFETY: synchronises the context changes before the ERET.
        unsafe { core::arch::asm!("isb", options(nomem, nostack)) };
    }

    /// # Safety
    /// Right after the guest exited, before another vCPU is loaded.
    unsafe fn save(&mut self, caps: &VirtCaps) {
        macro_rules! get {
            ($($field:expr => $reg:literal),* $(,)?) => {
                $(
                    // SAFETY: reads a register of the guest context just left.
                    unsafe { core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) $field, options(nomem, nostack)) };
                )*
            };
        }
        let e = &mut self.el1;
        get!(
            e.sctlr => "sctlr_el1",
            e.tcr => "tcr_el1",
            e.ttbr0 => "ttbr0_el1",
            e.ttbr1 => "ttbr1_el1",
            e.mair => "mair_el1",
            e.amair => "amair_el1",
            e.vbar => "vbar_el1",
            e.contextidr => "contextidr_el1",
            e.tpidr_el1 => "tpidr_el1",
            e.tpidr_el0 => "tpidr_el0",
            e.tpidrro_el0 => "tpidrro_el0",
            e.sp_el0 => "sp_el0",
            e.sp_el1 => "sp_el1",
            e.elr => "elr_el1",
            e.spsr => "spsr_el1",
            e.esr => "esr_el1",
            e.far => "far_el1",
            e.afsr0 => "afsr0_el1",
            e.afsr1 => "afsr1_el1",
            e.par => "par_el1",
            e.cpacr => "cpacr_el1",
            e.cntkctl => "cntkctl_el1",
            e.cntv_cval => "cntv_cval_el0",
            e.cntv_ctl => "cntv_ctl_el0",
            e.mdscr => "mdscr_el1",
            e.csselr => "csselr_el1",
            self.vgic.vmcr => "ich_vmcr_el2",
            self.vgic.ap0r0 => "ich_ap0r0_el2",
            self.vgic.ap1r0 => "ich_ap1r0_el2",
        );
        for (i, lr) in self
            .vgic
            .lr
            .iter_mut()
            .enumerate()
            .take(caps.list_registers)
        {
            // SAFETY: list register i of the implemented ones.
            *lr = unsafe { read_lr(i) };
        }
        // The guest's timer must not keep a level interrupt asserted while the
        // host runs: turn it off (its value is saved above), and the virtual
        // interface too.
        // SAFETY: EL0 virtual timer control and ICH_HCR_EL2 of the context left.
        unsafe {
            core::arch::asm!(
                "msr cntv_ctl_el0, xzr",
                "msr ich_hcr_el2, xzr",
                "isb",
                options(nomem, nostack)
            )
        };
    }

    /// Turns the exit's syndrome into an [`Exit`], advancing the PC past the
    /// trapped instruction where the guest must not repeat it.
    fn decode(&mut self, vector: u64) -> Exit {
        match vector {
            8 => {}
            // IRQ or FIQ, from AArch64 or from an AArch32 EL0.
            9 | 10 | 13 | 14 => return Exit::Interrupt,
            11 => {
                return Exit::Unhandled(format!(
                    "SError from the guest (ESR {:#x})",
                    self.frame.exit.esr
                ));
            }
            _ => return Exit::Unhandled(format!("exception from AArch32 (vector {vector})")),
        }
        let esr = self.frame.exit.esr;
        let class = esr >> 26;
        let iss = esr & 0x1ff_ffff;
        let il = if esr & (1 << 25) != 0 { 4 } else { 2 };
        let x = &self.frame.gprs.x;
        let args = [x[1], x[2], x[3], x[4], x[5], x[6]];
        match class {
            ec::HVC64 => Exit::Hypercall {
                function: x[0],
                args,
            },
            ec::SMC64 => {
                // SMC traps with the preferred return at the SMC itself.
                self.frame.gprs.pc = self.frame.gprs.pc.wrapping_add(4);
                Exit::FirmwareCall {
                    function: x[0],
                    args,
                }
            }
            ec::WFX => {
                self.frame.gprs.pc = self.frame.gprs.pc.wrapping_add(il);
                if iss & 1 == 0 {
                    Exit::WaitForInterrupt
                } else {
                    Exit::Interrupt
                }
            }
            ec::DABT_LOWER => self.decode_data_abort(iss, il),
            ec::IABT_LOWER => Exit::StageFault {
                ipa: self.fault_ipa(),
                va: Some(self.frame.exit.far),
                write: false,
                reason: format!("instruction fetch: {}", FaultStatus(iss)),
            },
            _ => Exit::Unhandled(format!(
                "trap {}: ESR {esr:#x} at PC {:#x}",
                crate::arch::aarch64::exceptions::ec_name(class),
                self.frame.gprs.pc
            )),
        }
    }

    /// The faulting IPA: HPFAR_EL2.FIPA (bits 43:4 hold IPA 51:12) plus the
    /// page offset from FAR_EL2.
    fn fault_ipa(&self) -> u64 {
        ((self.frame.exit.hpfar & 0x0fff_ffff_fff0) << 8) | (self.frame.exit.far & 0xfff)
    }

    fn decode_data_abort(&mut self, iss: u64, il: u64) -> Exit {
        let ipa = self.fault_ipa();
        let write = iss & (1 << 6) != 0;
        let status = iss & 0x3f;
        // Translation faults at stage 2 with a described access (ISV) are
        // candidates for emulation; anything else is reported.
        let translation = status >> 2 == 0b0001;
        let s1ptw = iss & (1 << 7) != 0;
        if iss & (1 << 24) != 0 && translation && !s1ptw {
            let size = 1u8 << ((iss >> 22) & 3);
            let reg = ((iss >> 16) & 0x1f) as usize;
            self.mmio_reg = reg;
            self.mmio_size = size;
            self.mmio_sign_extend = iss & (1 << 21) != 0;
            self.mmio_64bit = iss & (1 << 15) != 0;
            self.frame.gprs.pc = self.frame.gprs.pc.wrapping_add(il);
            let value = if reg == 31 { 0 } else { self.frame.gprs.x[reg] };
            return Exit::Mmio {
                ipa,
                va: Some(self.frame.exit.far),
                size,
                write: write.then_some(value),
            };
        }
        Exit::StageFault {
            ipa,
            va: Some(self.frame.exit.far),
            write,
            reason: format!(
                "{}{}",
                FaultStatus(status),
                if s1ptw {
                    " during the guest's own table walk"
                } else {
                    ""
                }
            ),
        }
    }
}

/// # Safety
/// `i` below the implemented list registers.
unsafe fn write_lr(i: usize, value: u64) {
    macro_rules! lr {
        ($($n:literal),*) => {
            match i {
                $($n => {
                    // SAFETY: ICH_LR<n>_EL2, implemented as the caller checked.
                    unsafe { core::arch::asm!(concat!("msr ich_lr", $n, "_el2, {}"), in(reg) value, options(nomem, nostack)) }
                })*
                _ => {}
            }
        };
    }
    lr!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/// # Safety
/// `i` below the implemented list registers.
unsafe fn read_lr(i: usize) -> u64 {
    let mut value = 0;
    macro_rules! lr {
        ($($n:literal),*) => {
            match i {
                $($n => {
                    // SAFETY: ICH_LR<n>_EL2, implemented as the caller checked.
                    unsafe { core::arch::asm!(concat!("mrs {}, ich_lr", $n, "_el2"), out(reg) value, options(nomem, nostack)) }
                })*
                _ => {}
            }
        };
    }
    lr!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    value
}

/// The virtual counter (CNTVCT_EL0; CNTVOFF_EL2 is 0, so also the physical count).
fn counter() -> u64 {
    let v: u64;
    // SAFETY: reads the counter; no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Counter ticks per second (CNTFRQ_EL0).
fn counter_frequency() -> u64 {
    let v: u64;
    // SAFETY: reads CNTFRQ_EL0; no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack)) };
    v
}

fn mask_irqs() -> u64 {
    let daif: u64;
    // SAFETY: reads DAIF and masks IRQs; restored by `restore_irqs`.
    unsafe {
        core::arch::asm!("mrs {}, daif", "msr daifset, #2", out(reg) daif, options(nomem, nostack))
    };
    daif
}

fn restore_irqs(daif: u64) {
    // SAFETY: restores the interrupt masks `mask_irqs` saved.
    unsafe { core::arch::asm!("msr daif, {}", in(reg) daif, options(nomem, nostack)) };
}

/// Synchronises and takes any pending SError (briefly unmasking PSTATE.A
/// with the EL2 handler told to count it); whether one was taken.
fn take_pending_serror() -> bool {
    use crate::arch::aarch64::exceptions::{SERROR_WINDOW, SERRORS_IN_WINDOW};
    use core::sync::atomic::Ordering;
    let before = SERRORS_IN_WINDOW.load(Ordering::SeqCst);
    SERROR_WINDOW.store(true, Ordering::SeqCst);
    // SAFETY: barriers, then PSTATE.A cleared and set again; a pending
    // SError is taken in between by the EL2 vector, which counts it.
    unsafe {
        core::arch::asm!(
            "dsb sy",
            "isb",
            "msr daifclr, #4",
            "isb",
            "msr daifset, #4",
            options(nostack)
        )
    };
    SERROR_WINDOW.store(false, Ordering::SeqCst);
    SERRORS_IN_WINDOW.load(Ordering::SeqCst) != before
}

/// CNTHP_TVAL_EL2 = `ticks`, CNTHP_CTL_EL2.ENABLE (D11.2.3).
fn arm_preemption_timer(ticks: u64) {
    // SAFETY: the EL2 physical timer, used only as this preemption timer.
    unsafe {
        core::arch::asm!(
            "msr cnthp_tval_el2, {t}",
            "mov {c}, #1",
            "msr cnthp_ctl_el2, {c}",
            "isb",
            t = in(reg) ticks,
            c = out(reg) _,
            options(nomem, nostack)
        )
    };
}

/// CNTHP_CTL_EL2 = 0: the preemption timer's interrupt line drops.
fn disarm_preemption_timer() {
    // SAFETY: as above.
    unsafe { core::arch::asm!("msr cnthp_ctl_el2, xzr", "isb", options(nomem, nostack)) };
}
