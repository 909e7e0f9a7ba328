/*
 * Exceptions and paging: #DE, #UD, #GP, #PF (not present, write to read-only, execute NX),
 * #BP, 1 GiB and 4 KiB pages, accessed and dirty bits. Each check prints one line; the exit
 * status is the number of failed checks. Runs unchanged on QEMU.
 */
#include "../common/guest.h"

struct frame { u64 vector, error, rip, cs, rflags, rsp, ss; };

extern char vector0[], vector3[], vector6[], vector8[], vector13[], vector14[];

static u64 idt[2 * 32] __attribute__((aligned(16)));
static volatile u64 last_vector = ~0ul, last_error, last_cr2;
u64 recover_rip;
static int failures;

/* Page tables for the region at 4 GiB: PDPT[4] -> pd -> pt (4 KiB pages), PDPT[5] -> 1 GiB page. */
static u64 pd[512] __attribute__((aligned(4096)));
static u64 pt[512] __attribute__((aligned(4096)));
static volatile u8 target[3 * 4096] __attribute__((aligned(4096)));

void on_exception(struct frame *f) {
	last_vector = f->vector;
	last_error = f->error;
	u64 cr2;
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	last_cr2 = cr2;
	if (f->vector != 3) {
		f->rip = recover_rip;
	}
}

static void set_gate(int vec, char *handler) {
	u64 h = (u64)handler;
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[2 * vec] = (h & 0xffff) | ((u64)cs << 16) | (0x8eul << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = h >> 32;
}

static void check(const char *what, int ok) {
	puts(ok ? "ok   " : "FAIL ");
	puts(what);
	putc('\n');
	failures += !ok;
}

#define EXPECT_FAULT(insns, ...)                                                                    \
	do {                                                                                        \
		last_vector = ~0ul;                                                                 \
		__asm__ volatile("lea 1f(%%rip), %%r11\n\tmov %%r11, recover_rip(%%rip)\n\t" insns "\n1:" \
				 : : __VA_ARGS__ : "r11", "rax", "rdx", "memory", "cc");                 \
	} while (0)

static u64 *pdpt(void) {
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u64 *pml4 = (u64 *)(cr3 & ~0xffful);
	return (u64 *)(pml4[0] & 0x000ffffffffff000ul);
}

static void flush_tlb(void) {
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
}

int main(void) {
	set_gate(0, vector0);
	set_gate(3, vector3);
	set_gate(6, vector6);
	set_gate(8, vector8);
	set_gate(13, vector13);
	set_gate(14, vector14);
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));

	EXPECT_FAULT("xor %%edx, %%edx\n\tmov $7, %%eax\n\tdivl %0", "r"(0));
	check("divide by zero: #DE", last_vector == 0);

	EXPECT_FAULT("ud2", "r"(0));
	check("ud2: #UD", last_vector == 6);

	EXPECT_FAULT("movq (%0), %%rax", "r"(0x8000000000000000ul));
	check("non-canonical address: #GP(0)", last_vector == 13 && last_error == 0);

	EXPECT_FAULT("movq (%0), %%rax", "r"(0x100000000000ul));
	check("unmapped page: #PF, error 0, CR2 = address", last_vector == 14 && last_error == 0 && last_cr2 == 0x100000000000ul);

	last_vector = ~0ul;
	__asm__ volatile("int3");
	check("int3: #BP, execution continues", last_vector == 3);

	/* 4 KiB pages at 4 GiB: page 0 read-only, page 1 writable, page 2 no-execute. */
	u64 *p = pdpt();
	u64 phys = (u64)target;
	pt[0] = phys | 0x1;
	pt[1] = (phys + 4096) | 0x3;
	pt[2] = (phys + 8192) | 0x3 | (1ul << 63);
	pd[0] = (u64)pt | 0x3;
	p[4] = (u64)pd | 0x3;
	p[5] = 0x83; /* 1 GiB page at 5 GiB -> physical 0 */
	flush_tlb();
	u64 cr0;
	__asm__ volatile("mov %%cr0, %0\n\tor $0x10000, %0\n\tmov %0, %%cr0" : "=r"(cr0)); /* WP */
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080));
	__asm__ volatile("wrmsr" : : "a"(lo | (1 << 11)), "d"(hi), "c"(0xc0000080)); /* NXE */

	volatile u8 *va = (volatile u8 *)0x100000000ul;
	target[0] = 0x5a;
	check("4 KiB page reads its frame", va[0] == 0x5a);
	check("accessed bit set by the read", (pt[0] & 0x20) != 0);
	EXPECT_FAULT("movb $1, (%0)", "r"(va));
	check("write to read-only page: #PF, error 3", last_vector == 14 && last_error == 3 && last_cr2 == (u64)va);
	va[4096] = 0x77;
	check("write through writable page", target[4096] == 0x77);
	check("dirty bit set by the write", (pt[1] & 0x40) != 0 && (pt[0] & 0x40) == 0);
	target[8192] = 0xc3; /* ret */
	EXPECT_FAULT("jmp *%0", "r"(va + 8192)); /* a call would leave its return address pushed */
	check("execute no-execute page: #PF, error 0x11", last_vector == 14 && last_error == 0x11);

	volatile u64 *big = (volatile u64 *)(0x140000000ul + (u64)&failures);
	check("1 GiB page maps physical 0", big == (volatile u64 *)(0x140000000ul + (u64)&failures) && *(volatile int *)big == failures);
	check("accessed bit on the 1 GiB entry", (p[5] & 0x20) != 0);

	puts("exceptions: ");
	put_dec((u64)failures);
	puts(" failures\n");
	return failures;
}
