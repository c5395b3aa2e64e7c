/* vsva hypercall ABI for C guest kernels (see abi/src/lib.rs for the
 * authoritative description). Function IDs follow the SMC Calling Convention
 * (Arm DEN 0028): fast call, SMC64, owning entity 6 (vendor hypervisor).
 *
 *              aarch64 (HVC #0)   x86_64 (VMMCALL)
 *  function    x0                 rax
 *  arguments   x1..x6             rdi, rsi, rdx, rcx, r8, r9
 *  status      x0                 rax   (0, or a negative VSVA_E* code)
 *  value       x1                 rdx
 */
#ifndef VSVA_H
#define VSVA_H

#include <stdint.h>

#define VSVA_FN(n) (0xC6000000u | (uint32_t)(n))
#define VSVA_VERSION       VSVA_FN(0)
#define VSVA_CONSOLE_WRITE VSVA_FN(1) /* (gpa, len) -> bytes; len <= VSVA_CONSOLE_MAX */
#define VSVA_EXIT          VSVA_FN(2) /* (code) -> does not return */
#define VSVA_YIELD         VSVA_FN(3) /* () */
#define VSVA_VCPU_START    VSVA_FN(4) /* (vcpu, entry, arg) */

#define VSVA_CONSOLE_MAX 1024

#define VSVA_EUNKNOWN_CALL  (-1) /* SMCCC NOT_SUPPORTED */
#define VSVA_EBAD_ARGUMENT  (-2)
#define VSVA_ENOT_PERMITTED (-3)
#define VSVA_ENO_RESOURCES  (-4)

#define VSVA_BOOT_MAGIC 0x746f6f6261767376ull /* "vsvaboot" little-endian */
#define VSVA_CMDLINE_MAX 256

/* At the guest-physical address in x0 / rdi on entry. */
struct vsva_boot_info {
	uint64_t magic;
	uint64_t version;
	uint64_t partition;
	uint64_t ram_base, ram_size;
	uint64_t config_base, config_size;
	uint64_t boot_tables_base, boot_tables_size;
	uint64_t cmdline_len;
	uint8_t cmdline[VSVA_CMDLINE_MAX];
};

struct vsva_result {
	int64_t status;
	uint64_t value;
};

static inline struct vsva_result vsva_call(uint32_t fn, uint64_t a0, uint64_t a1,
					   uint64_t a2, uint64_t a3)
{
	struct vsva_result r;
#if defined(__aarch64__)
	register uint64_t x0 __asm__("x0") = fn;
	register uint64_t x1 __asm__("x1") = a0;
	register uint64_t x2 __asm__("x2") = a1;
	register uint64_t x3 __asm__("x3") = a2;
	register uint64_t x4 __asm__("x4") = a3;
	__asm__ volatile("hvc #0"
			 : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4)
			 :
			 : "x5", "x6", "memory");
	r.status = (int64_t)x0;
	r.value = x1;
#elif defined(__x86_64__)
	uint64_t rax = fn, rdx = a2;
	__asm__ volatile("vmmcall"
			 : "+a"(rax), "+d"(rdx)
			 : "D"(a0), "S"(a1), "c"(a3)
			 : "r8", "r9", "memory");
	r.status = (int64_t)rax;
	r.value = rdx;
#else
#error "vsva guests run on aarch64 or x86_64"
#endif
	return r;
}

static inline int64_t vsva_console_write(const char *text, uint64_t len)
{
	return vsva_call(VSVA_CONSOLE_WRITE, (uint64_t)(uintptr_t)text, len, 0, 0).status;
}

static inline void vsva_exit(uint64_t code)
{
	vsva_call(VSVA_EXIT, code, 0, 0, 0);
	for (;;)
		;
}

#endif
