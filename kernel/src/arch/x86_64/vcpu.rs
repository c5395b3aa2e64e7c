//! Guest vCPUs under AMD SVM with nested paging (AMD64 APM Vol. 2, ch. 15),
//! as QEMU's TCG emulates it: no NRIP save and no decode assists (vsva
//! advances RIP itself), ASID != 0, VMRUN intercepted.
//!
//! Each vCPU has a VMCB (Appendix B: control area at 0, state save area at
//! 0x400) and the general registers VMRUN does not switch. The guest is
//! entered directly in 64-bit mode on page tables vsva builds at the top of
//! its RAM. Physical interrupts exit (INTR intercept), so the local APIC timer
//! preempts a guest; virtual interrupts go in through V_IRQ (§15.21.4).

use core::arch::global_asm;
use core::mem::offset_of;

use alloc::format;
use alloc::string::String;

use vsva_iommu::hw::DmaMemory;
use vsva_iommu::vtd::pagetable::{FirstStage, IoPageTable, Permissions};

use crate::arch::Stage2Error;
use crate::arch::dma::KernelDma;
pub use crate::arch::{Exit, MapKind};
use crate::port_io::{self, PortIo};
use crate::svm_event::{self, Requeue};

mod exits;
mod fetch;
mod mmio;

/// VMCB offsets (APM Vol. 2 Appendix B, Tables B-1 and B-2).
mod vmcb {
    pub const INTERCEPT_DR: usize = 0x004;
    pub const INTERCEPT_EXCEPTIONS: usize = 0x008;
    pub const INTERCEPT_MISC1: usize = 0x00c;
    pub const INTERCEPT_MISC2: usize = 0x010;
    pub const IOPM_BASE_PA: usize = 0x040;
    pub const MSRPM_BASE_PA: usize = 0x048;
    pub const GUEST_ASID: usize = 0x058;
    pub const TLB_CONTROL: usize = 0x05c;
    pub const V_INTR: usize = 0x060;
    pub const EXITCODE: usize = 0x070;
    pub const EXITINFO1: usize = 0x078;
    pub const EXITINFO2: usize = 0x080;
    pub const EXITINTINFO: usize = 0x088;
    pub const NP_ENABLE: usize = 0x090;
    pub const EVENTINJ: usize = 0x0a8;
    pub const N_CR3: usize = 0x0b0;
    // State save area.
    pub const ES: usize = 0x400;
    pub const CS: usize = 0x410;
    pub const SS: usize = 0x420;
    pub const DS: usize = 0x430;
    pub const FS: usize = 0x440;
    pub const GS: usize = 0x450;
    pub const GDTR: usize = 0x460;
    pub const LDTR: usize = 0x470;
    pub const IDTR: usize = 0x480;
    pub const TR: usize = 0x490;
    pub const CPL: usize = 0x4cb;
    pub const EFER: usize = 0x4d0;
    pub const CR4: usize = 0x548;
    pub const CR3: usize = 0x550;
    pub const CR0: usize = 0x558;
    pub const DR7: usize = 0x560;
    pub const DR6: usize = 0x568;
    pub const RFLAGS: usize = 0x570;
    pub const RIP: usize = 0x578;
    pub const RSP: usize = 0x5d8;
    pub const RAX: usize = 0x5f8;
    pub const G_PAT: usize = 0x668;
}

/// Intercept bits: vector 3 (offset 0x0c) and vector 4 (0x10), Table B-1.
mod intercept {
    pub const INTR: u32 = 1 << 0;
    pub const NMI: u32 = 1 << 1;
    pub const SMI: u32 = 1 << 2;
    pub const INIT: u32 = 1 << 3;
    pub const HLT: u32 = 1 << 24;
    /// INVLPGA would let a guest flush TLB entries of any ASID.
    pub const INVLPGA: u32 = 1 << 26;
    pub const IOIO_PROT: u32 = 1 << 27;
    pub const MSR_PROT: u32 = 1 << 28;
    pub const SHUTDOWN: u32 = 1 << 31;
    pub const VMRUN: u32 = 1 << 0;
    pub const VMMCALL: u32 = 1 << 1;
    pub const VMLOAD: u32 = 1 << 2;
    pub const VMSAVE: u32 = 1 << 3;
    pub const STGI: u32 = 1 << 4;
    pub const CLGI: u32 = 1 << 5;
    pub const SKINIT: u32 = 1 << 6;
    /// XSETBV (vector 4 bit 13): XCR0 is not switched per guest, so guests
    /// may not change it.
    pub const XSETBV: u32 = 1 << 13;
    /// RDTSCP (bit 7): would expose the host's TSC_AUX; WBINVD (bit 9): a
    /// cache flush across all owners' memory; MONITOR and MWAIT (bits 10,
    /// 11): would park the physical CPU outside vsva's scheduling.
    pub const RDTSCP: u32 = 1 << 7;
    pub const WBINVD: u32 = 1 << 9;
    pub const MONITOR: u32 = 1 << 10;
    pub const MWAIT: u32 = 1 << 11;
    /// Machine check (vector 18): not the guest's to handle.
    pub const EXCEPTION_MC: u32 = 1 << 18;
    /// #DB (1) and #AC (17): intercepted and reflected, so that a guest
    /// cannot make their delivery loop forever in microcode (AMD erratum
    /// behind CVE-2015-5307 / CVE-2015-8104).
    pub const EXCEPTION_DB: u32 = 1 << 1;
    pub const EXCEPTION_AC: u32 = 1 << 17;
    /// RDPMC (bit 15): host performance counters are not the guest's.
    pub const RDPMC: u32 = 1 << 15;
    /// INVD (bit 22): would drop dirty lines of other owners' memory.
    pub const INVD: u32 = 1 << 22;
}

/// MSRs (APM Vol. 2 Appendix A).
const MSR_EFER: u32 = 0xc000_0080;
const MSR_VM_HSAVE_PA: u32 = 0xc001_0117;
const EFER_SVME: u64 = 1 << 12;
/// Guest EFER: LME, LMA, NXE and SVME (which VMRUN requires set, §15.5.1).
const GUEST_EFER: u64 = (1 << 8) | (1 << 10) | (1 << 11) | EFER_SVME;
/// Guest CR0: PE, MP, ET, NE, WP, PG.
const GUEST_CR0: u64 = (1 << 0) | (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 31);
/// Guest CR4: PAE, OSFXSR and OSXMMEXCPT (SSE usable from the start).
const GUEST_CR4: u64 = (1 << 5) | (1 << 9) | (1 << 10);
/// The power-on PAT.
const DEFAULT_PAT: u64 = 0x0007_0406_0007_0406;
/// Segment attributes in the VMCB's packed form (type 3:0, S 4, DPL 6:5,
/// P 7, AVL 8, L 9, D/B 10, G 11): 64-bit code, flat data, busy 64-bit TSS,
/// LDT.
const ATTR_CODE64: u16 = 0xb | (1 << 4) | (1 << 7) | (1 << 9) | (1 << 11);
const ATTR_DATA: u16 = 0x3 | (1 << 4) | (1 << 7) | (1 << 10) | (1 << 11);
const ATTR_TSS: u16 = 0xb | (1 << 7);
const ATTR_LDT: u16 = 0x2 | (1 << 7);
/// EVENTINJ: valid (31), type exception (3 << 8), error code valid (11).
const EVENT_VALID: u64 = 1 << 31;
const EVENT_EXCEPTION: u64 = 3 << 8;
const EVENT_ERROR_CODE: u64 = 1 << 11;
/// V_INTR: V_IRQ (8), V_INTR_PRIO (19:16), V_IGN_TPR (20), V_INTR_MASKING
/// (24), V_INTR_VECTOR (39:32).
const V_IRQ: u64 = 1 << 8;
const V_INTR_PRIO_MAX: u64 = 0xf << 16;
const V_IGN_TPR: u64 = 1 << 20;
const V_INTR_MASKING: u64 = 1 << 24;

/// The x87/SSE state of a guest (FXSAVE format, SDM Vol. 1 §10.5.1), which
/// VMRUN does not switch. The host kernel uses no FP/SSE (soft-float).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct FxState([u8; 512]);

impl Default for FxState {
    /// The power-on state: FCW 0x037F, MXCSR 0x1F80 (all exceptions masked).
    fn default() -> Self {
        let mut area = [0u8; 512];
        area[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        area[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        Self(area)
    }
}

/// The general registers VMRUN leaves to software (RAX, RSP and RIP are in
/// the VMCB), in this order for the assembly.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct GuestGprs {
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    /// Mirror of the VMCB's RIP after an exit, for reports.
    pub pc: u64,
}

global_asm!(
    ".pushsection .text.vcpu, \"ax\"",
    ".global vsva_svm_run",
    // rdi: *mut GuestGprs, rsi: guest VMCB PA, rdx: host save area PA,
    // rcx: the guest's FXSAVE area.
    // Runs with GIF = 0 except inside the guest; IF = 1 there so that a
    // physical interrupt ends the guest (V_INTR_MASKING: host IF governs).
    "vsva_svm_run:",
    // AMD's FXRSTOR leaves FIP, FDP and FOP alone unless an x87 exception
    // is pending (the CVE-2006-1056 leak): make them vsva's own (a load of
    // a constant) before loading this guest's state.
    "    fnclex",
    "    emms",
    "    fild dword ptr [rip + vsva_fp_zero]",
    "    fxrstor64 [rcx]",
    "    push rcx",
    "    push rbx",
    "    push rbp",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    clgi",
    "    sti",
    "    mov rax, rdx",
    "    vmsave rax",
    "    mov rax, rsi",
    "    vmload rax",
    "    mov rbx, [rdi + {rbx}]",
    "    mov rcx, [rdi + {rcx}]",
    "    mov rdx, [rdi + {rdx}]",
    "    mov rsi, [rdi + {rsi}]",
    "    mov rbp, [rdi + {rbp}]",
    "    mov r8, [rdi + {r8}]",
    "    mov r9, [rdi + {r9}]",
    "    mov r10, [rdi + {r10}]",
    "    mov r11, [rdi + {r11}]",
    "    mov r12, [rdi + {r12}]",
    "    mov r13, [rdi + {r13}]",
    "    mov r14, [rdi + {r14}]",
    "    mov r15, [rdi + {r15}]",
    "    mov rdi, [rdi + {rdi}]",
    "    vmrun rax",
    "    vmsave rax",
    "    push rdi",
    "    mov rdi, [rsp + 8]",
    "    mov [rdi + {rbx}], rbx",
    "    mov [rdi + {rcx}], rcx",
    "    mov [rdi + {rdx}], rdx",
    "    mov [rdi + {rsi}], rsi",
    "    mov [rdi + {rbp}], rbp",
    "    mov [rdi + {r8}], r8",
    "    mov [rdi + {r9}], r9",
    "    mov [rdi + {r10}], r10",
    "    mov [rdi + {r11}], r11",
    "    mov [rdi + {r12}], r12",
    "    mov [rdi + {r13}], r13",
    "    mov [rdi + {r14}], r14",
    "    mov [rdi + {r15}], r15",
    "    pop rax",
    "    mov [rdi + {rdi}], rax",
    "    pop rdi",
    "    pop rsi",
    "    pop rax",
    "    vmload rax",
    "    cli",
    "    stgi",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbp",
    "    pop rbx",
    "    pop rcx",
    "    fxsave64 [rcx]",
    "    ret",
    ".popsection",
    ".pushsection .rodata.vsva_fp_zero, \"a\"",
    ".balign 4",
    "vsva_fp_zero:",
    "    .long 0",
    ".popsection",
    rbx = const offset_of!(GuestGprs, rbx),
    rcx = const offset_of!(GuestGprs, rcx),
    rdx = const offset_of!(GuestGprs, rdx),
    rsi = const offset_of!(GuestGprs, rsi),
    rdi = const offset_of!(GuestGprs, rdi),
    rbp = const offset_of!(GuestGprs, rbp),
    r8 = const offset_of!(GuestGprs, r8),
    r9 = const offset_of!(GuestGprs, r9),
    r10 = const offset_of!(GuestGprs, r10),
    r11 = const offset_of!(GuestGprs, r11),
    r12 = const offset_of!(GuestGprs, r12),
    r13 = const offset_of!(GuestGprs, r13),
    r14 = const offset_of!(GuestGprs, r14),
    r15 = const offset_of!(GuestGprs, r15),
);

unsafe extern "C" {
    fn vsva_svm_run(gprs: *mut GuestGprs, vmcb: u64, host_save: u64, fx: *mut FxState);
}

/// Nothing to size on x86; kept for the shared run loop.
#[derive(Clone, Copy, Debug)]
pub struct VirtCaps;

pub fn caps() -> VirtCaps {
    VirtCaps
}

/// A partition's nested page table (x86 4-level format, the same one VT-d's
/// first stage uses) and its ASID.
#[derive(Debug)]
pub struct Stage2 {
    table: IoPageTable<FirstStage>,
    asid: u8,
    /// Set when mappings changed: the next VMRUN flushes this ASID.
    flush: core::cell::Cell<bool>,
    /// The vCPU that last ran on this ASID: vCPUs of a partition share it,
    /// and their guest-physical translations are cached under it, so a
    /// switch to a sibling flushes (APM §15.16).
    last_vcpu: core::cell::Cell<Option<u8>>,
    /// The RAM ranges mapped (guest-physical, host-physical, bytes): stage 2
    /// never unmaps them, so reading the guest's tables and code goes by
    /// offset instead of a walk of this table (`vcpu::fetch`).
    ram: alloc::vec::Vec<(u64, u64, u64)>,
}

impl Stage2 {
    pub fn new(asid: u8) -> Result<Self, Stage2Error> {
        let table = IoPageTable::four_level(&KernelDma, FirstStage { pages_1g: true }, 48)
            .map_err(|error| Stage2Error { range: None, error })?;
        Ok(Self {
            table,
            asid,
            flush: core::cell::Cell::new(true),
            last_vcpu: core::cell::Cell::new(None),
            ram: alloc::vec::Vec::new(),
        })
    }

    pub fn map(&mut self, gpa: u64, hpa: u64, len: u64, kind: MapKind) -> Result<(), Stage2Error> {
        let permissions = match kind {
            MapKind::Ram => Permissions::READ | Permissions::WRITE | Permissions::EXECUTE,
            MapKind::Device => Permissions::READ | Permissions::WRITE,
            MapKind::ReadOnly => Permissions::READ,
        };
        self.table
            .map(&KernelDma, gpa, hpa, len, permissions)
            .map_err(|error| Stage2Error {
                range: Some((gpa, len)),
                error,
            })?
            .finish(&KernelDma);
        if kind == MapKind::Ram {
            self.ram.push((gpa, hpa, len));
        }
        self.flush.set(true);
        Ok(())
    }

    pub fn vmid(&self) -> u8 {
        self.asid
    }

    /// The root, for a VT-d first-stage PASID entry sharing this table.
    pub fn root(&self) -> u64 {
        self.table.root()
    }

    pub fn destroy(self) {
        self.table.destroy(&KernelDma).finish(&KernelDma);
    }
}

/// The page tables a guest is entered on (long mode needs paging): a PML4,
/// a PDPT and a page directory mapping the gigabyte that holds its RAM with
/// 2 MiB pages, 1:1, in the last three pages of the RAM. `write` stores
/// guest-physical bytes. Returns the tables' guest-physical base (the PML4,
/// CR3) and size.
pub fn boot_page_tables(
    ram_guest: u64,
    ram_size: u64,
    write: &mut dyn FnMut(u64, &[u8]) -> bool,
) -> Option<(u64, u64)> {
    const SIZE: u64 = 3 * 4096;
    let base = (ram_guest + ram_size).checked_sub(SIZE)?;
    if base < ram_guest {
        return None;
    }
    let (pml4, pdpt, pd) = (base, base + 4096, base + 8192);
    let present_rw = 0b11;
    let entry = |value: u64| value.to_le_bytes();
    let gib = ram_guest & !((1 << 30) - 1);
    let ok = write(
        pml4 + 8 * ((ram_guest >> 39) & 511),
        &entry(pdpt | present_rw),
    ) && write(
        pdpt + 8 * ((ram_guest >> 30) & 511),
        &entry(pd | present_rw),
    ) && (0..512u64).all(|i| {
        write(
            pd + 8 * i,
            &entry((gib + (i << 21)) | present_rw | (1 << 7)),
        )
    });
    ok.then_some((base, SIZE))
}

/// Per-CPU SVM state: the host save area (VM_HSAVE_PA) and the page VMSAVE
/// keeps the host's hidden segment state in.
struct Host {
    save_area: u64,
}

static HOST: spin::Once<Host> = spin::Once::new();
/// The CPU has protection keys (CPUID.(7,0):ECX.PKU): PKRU, which VMRUN does
/// not switch, is then saved and loaded around each run.
static HAS_PKU: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether guests' PKRU is switched (the CPU has protection keys).
pub fn has_pku() -> bool {
    HAS_PKU.load(core::sync::atomic::Ordering::Relaxed)
}

fn rdpkru() -> u32 {
    let value: u32;
    // SAFETY: RDPKRU (ECX = 0) with CR4.PKE set; reads PKRU only.
    unsafe {
        core::arch::asm!("rdpkru", in("ecx") 0, out("eax") value, out("edx") _, options(nomem, nostack))
    };
    value
}

fn wrpkru(value: u32) {
    // SAFETY: WRPKRU (ECX = EDX = 0) with CR4.PKE set; PKRU constrains only
    // user-mode pages, which the host has none of.
    unsafe {
        core::arch::asm!("wrpkru", in("eax") value, in("ecx") 0, in("edx") 0, options(nomem, nostack))
    };
}
/// The I/O and MSR permission maps (all ones: intercept everything), shared.
static MAPS: spin::Once<(u64, u64)> = spin::Once::new();

fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid(leaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

fn rdmsr(msr: u32) -> u64 {
    // SAFETY: reads an architectural MSR that exists on every SVM CPU.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Turns SVM on (EFER.SVME, VM_HSAVE_PA) after checking CPUID for SVM and
/// nested paging, and starts the preemption timer's calibration.
pub fn init() -> Result<(), String> {
    let (_, _, ecx, _) = cpuid(0x8000_0001);
    if ecx & (1 << 2) == 0 {
        return Err("the CPU has no SVM (CPUID 8000_0001h ECX.SVM)".into());
    }
    let (_, _, _, edx) = cpuid(0x8000_000a);
    if edx & 1 == 0 {
        return Err("the CPU has no nested paging (CPUID 8000_000Ah EDX.NP)".into());
    }
    crate::arch::interrupts::init_local_apic().map_err(|e| format!("local APIC: {e:?}"))?;
    let pku = core::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 3) != 0;
    if pku {
        // SAFETY: CR4.PKE makes RDPKRU/WRPKRU usable here; the kernel maps no
        // user pages, so protection keys change none of its accesses.
        unsafe {
            use x86_64::registers::control::{Cr4, Cr4Flags};
            Cr4::update(|f| f.insert(Cr4Flags::PROTECTION_KEY_USER));
        }
        HAS_PKU.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    // FXSAVE/FXRSTOR switch the guests' SSE registers only with CR4.OSFXSR.
    // SAFETY: sets CR4.OSFXSR and OSXMMEXCPT (SDM Vol. 3A §2.5); the kernel
    // itself uses no SSE, so nothing else changes.
    unsafe {
        use x86_64::registers::control::{Cr4, Cr4Flags};
        Cr4::update(|f| f.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE));
    }
    crate::arch::interrupts::calibrate_timer();
    HOST.try_call_once(|| -> Result<Host, String> {
        let hsave = KernelDma
            .alloc_pages(1)
            .ok_or("out of memory for VM_HSAVE")?;
        let save_area = KernelDma
            .alloc_pages(1)
            .ok_or("out of memory for the host save area")?;
        // SAFETY: EFER.SVME and VM_HSAVE_PA (a page vsva owns and never touches
        // again) enable SVM; nothing else changes.
        unsafe {
            let mut efer = x86_64::registers::model_specific::Msr::new(MSR_EFER);
            efer.write(rdmsr(MSR_EFER) | EFER_SVME);
            x86_64::registers::model_specific::Msr::new(MSR_VM_HSAVE_PA).write(hsave);
        }
        Ok(Host { save_area })
    })?;
    MAPS.try_call_once(|| -> Result<(u64, u64), String> {
        // IOPM: 12 KiB (3 pages, 4 allocated for alignment); MSRPM: 8 KiB.
        let iopm = KernelDma
            .alloc_pages(4)
            .ok_or("out of memory for the IOPM")?;
        let msrpm = KernelDma
            .alloc_pages(2)
            .ok_or("out of memory for the MSRPM")?;
        crate::arch::dma::phys::fill(iopm, 4 * 4096, 0xff);
        crate::arch::dma::phys::fill(msrpm, 2 * 4096, 0xff);
        Ok((iopm, msrpm))
    })?;
    Ok(())
}

/// One guest vCPU.
#[derive(Debug)]
pub struct Vcpu {
    /// The VMCB's page.
    vmcb: u64,
    gprs: GuestGprs,
    /// The MMIO load being emulated, until its value comes.
    mmio: Option<crate::x86_insn::Instruction>,
    fx: FxState,
    /// The guest's PKRU (where the CPU has protection keys).
    pkru: u32,
    /// A pending virtual interrupt vector.
    pending: Option<u8>,
    started: bool,
    index: u8,
}

impl Vcpu {
    /// A vCPU entering 64-bit mode at `entry` with `rdi` = `arg` and the
    /// identity map whose PML4 is at `cr3` (built by the partition).
    pub fn new(entry: u64, arg: u64, index: u8) -> Self {
        let vmcb = KernelDma.alloc_pages(1).unwrap_or(0);
        let v = Self {
            vmcb,
            gprs: GuestGprs {
                rdi: arg,
                pc: entry,
                ..GuestGprs::default()
            },
            pending: None,
            started: false,
            index,
            mmio: None,
            fx: FxState::default(),
            pkru: 0,
        };
        v.set(vmcb::RIP, entry);
        v
    }

    /// Sets the guest's CR3 (its initial page tables).
    pub fn set_page_tables(&mut self, cr3: u64) {
        self.set(vmcb::CR3, cr3);
    }

    fn set(&self, offset: usize, value: u64) {
        if self.vmcb != 0 {
            KernelDma.write64(self.vmcb + offset as u64, value);
        }
    }

    fn get(&self, offset: usize) -> u64 {
        if self.vmcb == 0 {
            return 0;
        }
        KernelDma.read64(self.vmcb + offset as u64)
    }

    /// The byte at a VMCB offset that is not 8-aligned (CPL).
    fn get_byte(&self, offset: usize) -> u8 {
        (self.get(offset & !7) >> ((offset % 8) * 8)) as u8
    }

    /// Writes `len` bytes (1, 2, 4) of `value` at an unaligned VMCB offset.
    fn set_bytes(&self, offset: usize, value: u64, len: usize) {
        let word = offset & !7;
        let shift = (offset % 8) * 8;
        let mask = if len == 8 {
            u64::MAX
        } else {
            ((1u64 << (len * 8)) - 1) << shift
        };
        let old = self.get(word);
        self.set(word, (old & !mask) | ((value << shift) & mask));
    }

    fn segment(&self, at: usize, selector: u16, attrib: u16, limit: u32, base: u64) {
        self.set(
            at,
            u64::from(selector) | (u64::from(attrib) << 16) | (u64::from(limit) << 32),
        );
        self.set(at + 8, base);
    }

    /// The first-run state: 64-bit mode at CPL 0, flat segments.
    fn reset(&mut self, stage2: &Stage2) {
        let (iopm, msrpm) = MAPS.get().copied().unwrap_or((0, 0));
        use intercept::*;
        self.set_bytes(
            vmcb::INTERCEPT_EXCEPTIONS,
            u64::from(EXCEPTION_MC | EXCEPTION_DB | EXCEPTION_AC),
            4,
        );
        // Every debug-register read and write (offsets 0x04, 0x06): DR0-DR7
        // are not switched per guest, so guests may not use them.
        self.set_bytes(vmcb::INTERCEPT_DR, 0xffff_ffff, 4);
        self.set_bytes(
            vmcb::INTERCEPT_MISC1,
            u64::from(
                INTR | NMI
                    | SMI
                    | INIT
                    | RDPMC
                    | INVD
                    | HLT
                    | INVLPGA
                    | IOIO_PROT
                    | MSR_PROT
                    | SHUTDOWN,
            ),
            4,
        );
        self.set_bytes(
            vmcb::INTERCEPT_MISC2,
            u64::from(
                VMRUN
                    | VMMCALL
                    | VMLOAD
                    | VMSAVE
                    | STGI
                    | CLGI
                    | SKINIT
                    | RDTSCP
                    | WBINVD
                    | MONITOR
                    | MWAIT
                    | XSETBV,
            ),
            4,
        );
        self.set(vmcb::IOPM_BASE_PA, iopm);
        self.set(vmcb::MSRPM_BASE_PA, msrpm);
        self.set_bytes(vmcb::GUEST_ASID, u64::from(stage2.asid), 4);
        self.set(vmcb::NP_ENABLE, 1);
        self.set(vmcb::N_CR3, stage2.table.root());
        self.set(vmcb::V_INTR, V_INTR_MASKING);
        self.segment(vmcb::CS, 0x08, ATTR_CODE64, 0xffff_ffff, 0);
        for seg in [vmcb::ES, vmcb::SS, vmcb::DS, vmcb::FS, vmcb::GS] {
            self.segment(seg, 0x10, ATTR_DATA, 0xffff_ffff, 0);
        }
        self.segment(vmcb::GDTR, 0, 0, 0, 0);
        self.segment(vmcb::IDTR, 0, 0, 0, 0);
        self.segment(vmcb::LDTR, 0, ATTR_LDT, 0, 0);
        self.segment(vmcb::TR, 0, ATTR_TSS, 0x67, 0);
        self.set_bytes(vmcb::CPL, 0, 1);
        self.set(vmcb::EFER, GUEST_EFER);
        self.set(vmcb::CR0, GUEST_CR0);
        self.set(vmcb::CR4, GUEST_CR4);
        self.set(vmcb::DR6, 0xffff_0ff0);
        self.set(vmcb::DR7, 0x400);
        self.set(vmcb::RFLAGS, 0x2);
        self.set(vmcb::G_PAT, DEFAULT_PAT);
    }

    /// One line for reports: RIP, RFLAGS, interrupts in flight.
    pub fn describe(&self) -> String {
        format!(
            "RIP {:#x} RFLAGS {:#x}, queued {:?}, V_INTR {:#x}",
            self.get(vmcb::RIP),
            self.get(vmcb::RFLAGS),
            self.pending,
            self.get(vmcb::V_INTR)
        )
    }

    /// The guest's registers (PC is the RIP of the last exit).
    pub fn gprs(&self) -> &GuestGprs {
        &self.gprs
    }

    /// A call's results: status in RAX, value in RDX.
    pub fn set_call_result(&mut self, status: i64, value: u64) {
        self.set(vmcb::RAX, status as u64);
        self.gprs.rdx = value;
    }

    /// Not used on x86 (no firmware calls return several values).
    pub fn set_results(&mut self, values: [u64; 4]) {
        self.set(vmcb::RAX, values[0]);
    }

    /// The virtual interrupts [`inject`](Self::inject) delivers: vectors
    /// 32..=255 (below 32 are exceptions, SDM Vol. 3A §6.2).
    pub const INJECTABLE: (u32, u32) = (32, 255);

    /// Queues virtual interrupt vector `intid` (32..=255).
    pub fn inject(&mut self, intid: u32) -> bool {
        match u8::try_from(intid) {
            Ok(v) if v >= 32 && self.pending.is_none_or(|p| p == v) => {
                self.pending = Some(v);
                true
            }
            _ => false,
        }
    }

    /// Whether a virtual interrupt is waiting (queued or in V_IRQ).
    pub fn has_interrupt(&self) -> bool {
        self.pending.is_some() || self.get(vmcb::V_INTR) & V_IRQ != 0
    }

    /// Runs the guest until it exits, with the local APIC timer armed for
    /// `slice_ns`.
    pub fn run(&mut self, stage2: &Stage2, _caps: &VirtCaps, slice_ns: u64) -> Exit {
        let Some(host) = HOST.get() else {
            return Exit::Unhandled("SVM is not initialised".into());
        };
        if self.vmcb == 0 {
            return Exit::Unhandled("no VMCB (out of memory)".into());
        }
        if !self.started {
            self.reset(stage2);
            self.started = true;
        }
        // A virtual interrupt in V_IRQ is taken when the guest's IF allows.
        if let Some(vector) = self.pending
            && self.get(vmcb::V_INTR) & V_IRQ == 0
        {
            self.pending = None;
            // V_TPR (7:0) is the guest's: keep it.
            let tpr = self.get(vmcb::V_INTR) & 0xff;
            self.set(
                vmcb::V_INTR,
                tpr | V_INTR_MASKING
                    | V_IRQ
                    | V_INTR_PRIO_MAX
                    | V_IGN_TPR
                    | (u64::from(vector) << 32),
            );
        }
        // TLB_CONTROL 1 flushes everything (QEMU has no flush-by-ASID).
        let sibling = stage2.last_vcpu.replace(Some(self.index)) != Some(self.index);
        let flush = stage2.flush.replace(false) || sibling;
        self.set_bytes(vmcb::TLB_CONTROL, u64::from(flush), 1);
        let pku = has_pku();
        if pku {
            wrpkru(self.pkru);
        }
        crate::arch::interrupts::arm_timer(slice_ns);
        // SAFETY: the VMCB, the host save area and the permission maps are
        // pages vsva owns; the VMCB's state passes VMRUN's consistency checks
        // (reset above) or is what the guest left; the assembly saves and
        // restores the host's callee-saved registers and returns normally.
        unsafe {
            vsva_svm_run(
                &raw mut self.gprs,
                self.vmcb,
                host.save_area,
                &raw mut self.fx,
            )
        };
        crate::arch::interrupts::disarm_timer();
        if pku {
            self.pkru = rdpkru();
            wrpkru(0);
        }
        self.gprs.pc = self.get(vmcb::RIP);
        // An event the exit interrupted is delivered on the next entry
        // (crate::svm_event); what the exit itself raises may replace it.
        match svm_event::requeue(self.get(vmcb::EXITINTINFO)) {
            Requeue::Nothing => {}
            Requeue::Interrupt(vector) => {
                self.pending.get_or_insert(vector);
            }
            Requeue::Inject(event) => self.set(vmcb::EVENTINJ, event),
        }
        self.decode(stage2)
    }

    fn advance(&mut self, bytes: u64) {
        let rip = self.get(vmcb::RIP).wrapping_add(bytes);
        self.set(vmcb::RIP, rip);
        self.gprs.pc = rip;
    }

    /// Injects exception `vector` (with `error_code` where it has one): an
    /// intercepted exception handed back, or a #GP / #UD vsva raises.
    fn reflect(&mut self, vector: u8, error_code: Option<u32>) {
        let mut event = u64::from(vector) | EVENT_EXCEPTION | EVENT_VALID;
        if let Some(code) = error_code {
            event |= EVENT_ERROR_CODE | (u64::from(code) << 32);
        }
        self.set(vmcb::EVENTINJ, event);
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        if self.vmcb != 0 {
            KernelDma.free_pages(self.vmcb, 1);
        }
    }
}
