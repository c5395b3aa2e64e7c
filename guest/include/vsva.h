/* vsva hypercall ABI 0.2 for C guest kernels (see abi/README.md and
 * abi/src/lib.rs for the authoritative description). Function IDs follow the
 * SMC Calling Convention (Arm DEN 0028): fast call, SMC64, owning entity 6
 * (vendor hypervisor).
 *
 *              aarch64 (HVC #0)   x86_64 (VMMCALL)
 *  function    x0                 rax
 *  arguments   x1..x6             rdi, rsi, rdx, rcx, r8, r9
 *  status      x0                 rax   (0, or a negative VSVA_E* code)
 *  value       x1                 rdx
 *
 * The vSVA calls (VSVA_SVA_INFO..VSVA_PAGE_RESPONSE) take one argument: the
 * guest-physical address of a little-endian struct that starts with its own
 * size (set it to sizeof the struct; 0 probes for the size vsva knows).
 * vsva reads and writes it by guest-physical address: keep it where virtual
 * equals guest-physical (or run with the MMU off).
 */
#ifndef VSVA_H
#define VSVA_H

#include <stdint.h>

#define VSVA_FN(n) (0xC6000000u | (uint32_t)(n))
#define VSVA_VERSION         VSVA_FN(0)  /* () -> VSVA_ABI_VERSION */
#define VSVA_CONSOLE_WRITE   VSVA_FN(1)  /* (gpa, len) -> bytes; len <= VSVA_CONSOLE_MAX */
#define VSVA_EXIT            VSVA_FN(2)  /* (code) -> does not return */
#define VSVA_YIELD           VSVA_FN(3)  /* () */
#define VSVA_VCPU_START      VSVA_FN(4)  /* (vcpu, entry, arg) */
#define VSVA_SVA_INFO        VSVA_FN(5)  /* (gpa of struct vsva_sva_info) */
#define VSVA_PASID_ALLOC     VSVA_FN(6)  /* (gpa of struct vsva_pasid) */
#define VSVA_PASID_FREE      VSVA_FN(7)  /* (gpa of struct vsva_pasid) */
#define VSVA_BIND_STAGE1     VSVA_FN(8)  /* (gpa of struct vsva_bind_stage1) */
#define VSVA_UNBIND_STAGE1   VSVA_FN(9)  /* (gpa of struct vsva_unbind_stage1) */
#define VSVA_BIND_CD_TABLE   VSVA_FN(10) /* (gpa of struct vsva_bind_cd_table) */
#define VSVA_UNBIND_CD_TABLE VSVA_FN(11) /* (gpa of struct vsva_unbind_cd_table) */
#define VSVA_INVALIDATE      VSVA_FN(12) /* (gpa of struct vsva_invalidate) -> completed */
#define VSVA_EVENT_QUEUE     VSVA_FN(13) /* (gpa of struct vsva_event_queue) -> 0 */
#define VSVA_PAGE_RESPONSE   VSVA_FN(14) /* (gpa of struct vsva_page_response) -> 0 */

/* What VSVA_VERSION returns: major in bits 31:16, minor in 15:0. */
#define VSVA_ABI_VERSION 0x00000003u

#define VSVA_CONSOLE_MAX 1024

#define VSVA_EUNKNOWN_CALL  (-1) /* SMCCC NOT_SUPPORTED */
#define VSVA_EBAD_ARGUMENT  (-2)
#define VSVA_ENOT_PERMITTED (-3)
#define VSVA_ENO_RESOURCES  (-4)
#define VSVA_EUNSUPPORTED   (-5) /* a value this IOMMU or device cannot do */
#define VSVA_ENOT_FOUND     (-6) /* no such device, PASID or binding */
#define VSVA_EBUSY          (-7) /* in use: unbind first */
#define VSVA_ETOO_BIG       (-8) /* struct too long, or a non-zero unknown tail */
#define VSVA_EIOMMU_ERROR   (-9) /* the IOMMU failed; left blocked, not half-done */

/* The emulated PCI configuration window (devices are named by its
 * requester IDs, bus << 8 | dev << 3 | fn) and the read-only window of
 * tables vsva owns (SMMUv3 CD tables of nested STEs). */
#define VSVA_CONFIG_WINDOW_BASE 0x04000000ull
#define VSVA_TABLE_WINDOW_BASE  0x05000000ull
#define VSVA_TABLE_WINDOW_SIZE  0x01000000ull

#define VSVA_MAX_STRUCT_SIZE   4096u
#define VSVA_MAX_INVALIDATIONS 256u /* entries per VSVA_INVALIDATE */
#define VSVA_INV_ENTRY_SIZE    32u  /* sizeof(struct vsva_invalidate_entry) */

/* struct vsva_sva_info.iommu */
#define VSVA_IOMMU_VTD    1u
#define VSVA_IOMMU_SMMUV3 2u

/* struct vsva_sva_info.install */
#define VSVA_INSTALL_NESTED 1u
#define VSVA_INSTALL_SHADOW 2u /* invalidate after every change, even making present */

/* struct vsva_sva_info.caps */
#define VSVA_CAP_BIND       (1ull << 0)  /* bind without a PASID */
#define VSVA_CAP_BIND_PASID (1ull << 1)  /* bind on PASIDs below 2^pasid_bits */
#define VSVA_CAP_CD_TABLE   (1ull << 2)  /* VSVA_BIND_CD_TABLE (SMMUv3) */
#define VSVA_CAP_PASID_EXEC (1ull << 3)
#define VSVA_CAP_PASID_PRIV (1ull << 4)
#define VSVA_CAP_PRI        (1ull << 6)
#define VSVA_CAP_X86_SRE    (1ull << 7)
#define VSVA_CAP_X86_WPE    (1ull << 8)
#define VSVA_CAP_X86_EAFE   (1ull << 9)
#define VSVA_CAP_STALL      (1ull << 10) /* VSVA_CD_STALL accepted */

/* struct vsva_sva_info.formats */
#define VSVA_FORMATS_X86_4LEVEL   (1ull << 0)
#define VSVA_FORMATS_X86_5LEVEL   (1ull << 1)
#define VSVA_FORMATS_X86_1G_PAGES (1ull << 2)
#define VSVA_FORMATS_VMSA_4K      (1ull << 8)
#define VSVA_FORMATS_VMSA_16K     (1ull << 9)
#define VSVA_FORMATS_VMSA_64K     (1ull << 10)

/* struct vsva_bind_stage1.format */
#define VSVA_S1_FORMAT_X86_4LEVEL 1u /* input_bits 48 */
#define VSVA_S1_FORMAT_X86_5LEVEL 2u /* input_bits 57 */
#define VSVA_S1_FORMAT_VMSA_4K    3u /* input_bits 64 - T0SZ, 25..48 */
#define VSVA_S1_FORMAT_VMSA_16K   4u
#define VSVA_S1_FORMAT_VMSA_64K   5u

/* struct vsva_bind_stage1.flags, struct vsva_unbind_stage1.flags (PASID) */
#define VSVA_BIND_PASID    (1u << 0)
#define VSVA_BIND_X86_SRE  (1u << 1)
#define VSVA_BIND_X86_WPE  (1u << 2)
#define VSVA_BIND_X86_EAFE (1u << 3)
#define VSVA_BIND_VMSA_TBI (1u << 4)

/* struct vsva_bind_cd_table.config (STE.Config) */
#define VSVA_CD_CONFIG_ABORT     0u
#define VSVA_CD_CONFIG_BYPASS    1u
#define VSVA_CD_CONFIG_TRANSLATE 2u
/* struct vsva_bind_cd_table.flags */
#define VSVA_CD_STALL            (1u << 0) /* CD.S stalls: VSVA_EVENT_STALL records */
/* struct vsva_bind_cd_table.format (STE.S1Fmt) */
#define VSVA_CD_FORMAT_LINEAR    0u
#define VSVA_CD_FORMAT_2L_4K     1u
#define VSVA_CD_FORMAT_2L_64K    2u
/* struct vsva_bind_cd_table.default_substream (STE.S1DSS) */
#define VSVA_CD_DSS_TERMINATE    0u
#define VSVA_CD_DSS_BYPASS       1u
#define VSVA_CD_DSS_SUBSTREAM0   2u

/* struct vsva_invalidate_entry.kind */
#define VSVA_INV_IOTLB_RANGE     1u
#define VSVA_INV_IOTLB_ALL       2u
#define VSVA_INV_PASID_CACHE     3u
#define VSVA_INV_PASID_CACHE_ALL 4u
#define VSVA_INV_DEVICE_TLB      5u
/* struct vsva_invalidate_entry.flags */
#define VSVA_INV_FLAG_PASID (1u << 0)
#define VSVA_INV_FLAG_LEAF  (1u << 1)
#define VSVA_INV_FLAG_ASID  (1u << 2)

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

/* The vSVA argument structs: little-endian, no implicit padding; reserved
 * fields must be zero. "out" fields are written back by vsva. */

struct vsva_sva_info {
	uint32_t size;              /* in */
	uint32_t device;            /* in: requester ID in the config window */
	uint32_t iommu;             /* out: VSVA_IOMMU_* */
	uint32_t install;           /* out: VSVA_INSTALL_* */
	uint64_t caps;              /* out: VSVA_CAP_* */
	uint64_t formats;           /* out: VSVA_FORMATS_* */
	uint8_t pasid_bits;         /* out: PASIDs below 2^pasid_bits; 0 none */
	uint8_t cd_max;             /* out: largest S1CDMax of a CD table */
	uint8_t input_bits;         /* out: widest stage-1 input */
	uint8_t output_bits;        /* out: stage-1 outputs below 2^output_bits */
	uint32_t max_invalidations; /* out */
	uint8_t asid_bits;          /* out: CD ASIDs below 2^asid_bits */
	uint8_t reserved[7];
};

struct vsva_pasid {
	uint32_t size;
	uint32_t flags;    /* zero */
	uint32_t pasid;    /* out for VSVA_PASID_ALLOC, in for VSVA_PASID_FREE */
	uint32_t reserved;
};

struct vsva_bind_stage1 {
	uint32_t size;
	uint32_t device;
	uint32_t flags;      /* VSVA_BIND_* */
	uint32_t pasid;      /* with VSVA_BIND_PASID, else zero */
	uint32_t format;     /* VSVA_S1_FORMAT_* */
	uint32_t input_bits;
	uint64_t root;       /* guest-physical root table (PML4/PML5 or TTB0) */
	uint64_t mair;       /* VMSAv8, else zero */
	uint32_t walk;       /* VMSAv8 IRGN0 1:0, ORGN0 3:2, SH0 5:4, else zero */
	uint32_t reserved;
};

struct vsva_unbind_stage1 {
	uint32_t size;
	uint32_t device;
	uint32_t flags; /* VSVA_BIND_PASID only */
	uint32_t pasid; /* with VSVA_BIND_PASID, else zero */
};

struct vsva_bind_cd_table {
	uint32_t size;
	uint32_t device;
	uint32_t config;            /* VSVA_CD_CONFIG_* */
	uint32_t flags;             /* 0: none defined */
	uint32_t format;            /* VSVA_CD_FORMAT_* */
	uint32_t cd_max;            /* S1CDMax */
	uint32_t default_substream; /* VSVA_CD_DSS_* */
	uint32_t walk;              /* S1CIR 1:0, S1COR 3:2, S1CSH 5:4 */
	uint64_t table;             /* guest-physical CD table or level-1 table */
};

struct vsva_unbind_cd_table {
	uint32_t size;
	uint32_t device;
};

struct vsva_invalidate {
	uint32_t size;
	uint32_t entry_size; /* VSVA_INV_ENTRY_SIZE */
	uint32_t count;      /* in: entries; out: entries completed */
	uint32_t flags;      /* zero */
	uint64_t entries;    /* guest-physical address of the array */
};

struct vsva_invalidate_entry {
	uint8_t kind;      /* VSVA_INV_* */
	uint8_t flags;     /* VSVA_INV_FLAG_* */
	uint16_t asid;     /* with VSVA_INV_FLAG_ASID, else zero */
	uint32_t device;
	uint32_t pasid;    /* with VSVA_INV_FLAG_PASID, else zero */
	uint32_t reserved;
	uint64_t address;  /* ranges: 4 KiB aligned; else zero */
	uint64_t size;     /* ranges: non-zero multiple of 4 KiB; else zero */
};

/* The event ring: a 64-byte header, then `entries` records of 64 bytes.
 * vsva writes records, then producer; the guest reads records below
 * producer, then writes consumer. Both count freely; slot = n % entries. */
#define VSVA_QUEUE_QUERY        0u
#define VSVA_QUEUE_REGISTER     1u
#define VSVA_QUEUE_UNREGISTER   2u
#define VSVA_MAX_EVENT_ENTRIES  4096u
#define VSVA_EVENT_RECORD_SIZE  64u

/* struct vsva_event_record.kind */
#define VSVA_EVENT_FAULT        1u /* in the guest's own translation */
#define VSVA_EVENT_STAGE2_FAULT 2u /* outside the partition */
#define VSVA_EVENT_PAGE_REQUEST 3u /* answer with VSVA_PAGE_RESPONSE */
#define VSVA_EVENT_STALL        4u /* answer with VSVA_RESPONSE_STALL */

/* struct vsva_event_record.flags */
#define VSVA_RECORD_PASID   (1u << 0)
#define VSVA_RECORD_READ    (1u << 1)
#define VSVA_RECORD_WRITE   (1u << 2)
#define VSVA_RECORD_EXEC    (1u << 3)
#define VSVA_RECORD_PRIV    (1u << 4)
#define VSVA_RECORD_LAST    (1u << 5) /* last of its group: an answer is owed */
#define VSVA_RECORD_LOST    (1u << 6) /* `lost` events were lost before this one */
#define VSVA_RECORD_PRIVATE (1u << 7)

/* struct vsva_event_record.reason */
#define VSVA_REASON_NOT_PRESENT       1u
#define VSVA_REASON_PERMISSION        2u
#define VSVA_REASON_BAD_TABLE         3u
#define VSVA_REASON_OUTSIDE_PARTITION 4u
#define VSVA_REASON_NOT_CONFIGURED    5u
#define VSVA_REASON_OTHER             255u

/* struct vsva_page_response.flags and .code */
#define VSVA_RESPONSE_PASID   (1u << 0)
#define VSVA_RESPONSE_STALL   (1u << 1)
#define VSVA_RESPONSE_SUCCESS 0u
#define VSVA_RESPONSE_INVALID 1u
#define VSVA_RESPONSE_FAILURE 2u

struct vsva_event_queue {
	uint32_t size;
	uint32_t op;            /* VSVA_QUEUE_* */
	uint64_t ring;          /* register: guest-physical, 4 KiB aligned */
	uint32_t entries;       /* register: a power of two, 1..VSVA_MAX_EVENT_ENTRIES */
	uint32_t intid;         /* register: raised after records are written; 0 none */
	uint64_t dropped;       /* out: events with no ring registered */
	uint64_t lost;          /* out: events the full ring could not take */
	uint32_t open_requests; /* out: page requests not answered yet */
	uint32_t reserved;
};

struct vsva_ring_header {
	uint32_t producer;    /* written by vsva */
	uint32_t consumer;    /* written by the guest */
	uint32_t entries;
	uint32_t record_size; /* VSVA_EVENT_RECORD_SIZE */
	uint8_t reserved[48];
};

struct vsva_event_record {
	uint32_t sequence;  /* one more than the previous event's, wrapping */
	uint16_t kind;      /* VSVA_EVENT_* */
	uint16_t flags;     /* VSVA_RECORD_* */
	uint32_t device;
	uint32_t pasid;     /* with VSVA_RECORD_PASID */
	uint64_t address;   /* as the device used it */
	uint32_t reason;    /* faults: VSVA_REASON_* */
	uint32_t group;     /* page request group index, or stall tag */
	uint32_t lost;      /* with VSVA_RECORD_LOST */
	uint32_t reserved;
	uint64_t private0;  /* with VSVA_RECORD_PRIVATE */
	uint64_t private1;
	uint64_t reserved2;
};

struct vsva_page_response {
	uint32_t size;
	uint32_t device;
	uint32_t flags; /* VSVA_RESPONSE_PASID, VSVA_RESPONSE_STALL */
	uint32_t pasid;
	uint32_t group; /* the record's group */
	uint32_t code;  /* VSVA_RESPONSE_SUCCESS / _INVALID / _FAILURE */
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct vsva_event_queue) == 48, "vsva_event_queue layout");
_Static_assert(sizeof(struct vsva_ring_header) == 64, "vsva_ring_header layout");
_Static_assert(sizeof(struct vsva_event_record) == 64, "vsva_event_record layout");
_Static_assert(sizeof(struct vsva_page_response) == 24, "vsva_page_response layout");
_Static_assert(sizeof(struct vsva_sva_info) == 48, "vsva_sva_info layout");
_Static_assert(sizeof(struct vsva_pasid) == 16, "vsva_pasid layout");
_Static_assert(sizeof(struct vsva_bind_stage1) == 48, "vsva_bind_stage1 layout");
_Static_assert(sizeof(struct vsva_unbind_stage1) == 16, "vsva_unbind_stage1 layout");
_Static_assert(sizeof(struct vsva_bind_cd_table) == 40, "vsva_bind_cd_table layout");
_Static_assert(sizeof(struct vsva_unbind_cd_table) == 8, "vsva_unbind_cd_table layout");
_Static_assert(sizeof(struct vsva_invalidate) == 24, "vsva_invalidate layout");
_Static_assert(sizeof(struct vsva_invalidate_entry) == VSVA_INV_ENTRY_SIZE,
	       "vsva_invalidate_entry layout");
#endif

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

/* The vSVA calls: each passes its struct's address (which must be
 * guest-physical, see above) and returns the status; results are in the
 * struct. Fill in size = sizeof(*arg) first. */
static inline int64_t vsva_sva_call(uint32_t fn, void *arg)
{
	return vsva_call(fn, (uint64_t)(uintptr_t)arg, 0, 0, 0).status;
}

static inline int64_t vsva_sva_info(struct vsva_sva_info *info)
{
	return vsva_sva_call(VSVA_SVA_INFO, info);
}

static inline int64_t vsva_pasid_alloc(struct vsva_pasid *pasid)
{
	return vsva_sva_call(VSVA_PASID_ALLOC, pasid);
}

static inline int64_t vsva_pasid_free(struct vsva_pasid *pasid)
{
	return vsva_sva_call(VSVA_PASID_FREE, pasid);
}

static inline int64_t vsva_bind_stage1(struct vsva_bind_stage1 *bind)
{
	return vsva_sva_call(VSVA_BIND_STAGE1, bind);
}

static inline int64_t vsva_unbind_stage1(struct vsva_unbind_stage1 *unbind)
{
	return vsva_sva_call(VSVA_UNBIND_STAGE1, unbind);
}

static inline int64_t vsva_bind_cd_table(struct vsva_bind_cd_table *bind)
{
	return vsva_sva_call(VSVA_BIND_CD_TABLE, bind);
}

static inline int64_t vsva_unbind_cd_table(struct vsva_unbind_cd_table *unbind)
{
	return vsva_sva_call(VSVA_UNBIND_CD_TABLE, unbind);
}

/* On success every entry completed; on an error inv->count is the index of
 * the refused entry (entries before it took effect), or, when it is not
 * below the count sent, the struct itself was refused and nothing was done. */
static inline int64_t vsva_invalidate(struct vsva_invalidate *inv)
{
	return vsva_sva_call(VSVA_INVALIDATE, inv);
}

static inline int64_t vsva_event_queue(struct vsva_event_queue *queue)
{
	return vsva_sva_call(VSVA_EVENT_QUEUE, queue);
}

static inline int64_t vsva_page_response(struct vsva_page_response *response)
{
	return vsva_sva_call(VSVA_PAGE_RESPONSE, response);
}

#endif
