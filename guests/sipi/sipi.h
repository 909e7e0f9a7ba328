/*
 * The real-mode trampoline of guests/sipi: vCPU 0 copies it to TRAMP (below 1 MiB, 4 KiB aligned:
 * the start-up IPI's vector is TRAMP >> 12) and fills its parameters; each AP leaves its results.
 * Offsets within the trampoline page, shared by trampoline.S and main.c.
 */
#define TRAMP 0x70000
#define T_CR3 0xf00          /* u32: the page tables vCPU 0 built */
#define T_STACK 0xf08        /* u64: the 64-bit stack top of the AP being started */
#define T_ENTRY 0xf10        /* u64: where the AP enters the guest's 64-bit code */
#define T_RM_CS 0xf18        /* u16: CS as the AP saw it in real mode */
#define T_RM_SUM 0xf1a       /* u16: a sum through 16-bit addressing forms */
#define T_RM_INT 0xf1c       /* u16: set by the real-mode handler of int $0x30 (through the AP's own IVT) */
#define T_RM_APIC 0xf1e      /* u16: the initial APIC ID CPUID reported in real mode */
#define T_RM_EAX 0xf20       /* u32: a 32-bit sum made with the 0x66 prefix */
#define T_IVT 0xc00          /* the AP's real-mode IVT: entries 0..0x3f */
#define T_RM_STACK 0xe00     /* top of the real-mode stack */
