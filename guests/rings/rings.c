/*
 * Privilege levels as an operating system uses them: a GDT with user segments and a 64-bit TSS
 * (LTR), IRETQ into ring 3, system calls by SYSCALL/SYSRETQ (STAR, LSTAR, SFMASK, SWAPGS with
 * KERNEL_GS_BASE) and by INT 0x80 through a DPL 3 gate (the stack switch to RSP0), user-mode page
 * faults (a supervisor page, a read-only page) handled and resumed, #GP for a privileged
 * instruction and for INT n through a DPL 0 gate in ring 3, an unknown MSR's #GP in ring 0, and a
 * double fault delivered on its IST stack. Each check prints one line; the exit status is the
 * number of failed checks. Runs unchanged on QEMU, whose TCG reads unknown MSRs as 0: the command
 * line msrcheck=0 leaves that check out.
 */
#include "../common/guest.h"
#include "../common/pvh.h"

struct frame { u64 vector, error, rip, cs, rflags, rsp, ss; };
struct regs { u64 r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax; };

extern char vector6[], vector8[], vector13[], vector14[], vector0x21[], vector0x80[], syscall_entry[];
void enter_user(void (*rip)(void), void *rsp);
void back_to_kernel(void) __attribute__((noreturn));

#define GIB (1ul << 30)
#define SECRET 0x5ec7e7c0ffee0001ul

enum { SYS_WRITE = 1, SYS_EXPECT = 2, SYS_CHECK = 3, SYS_EXIT = 4, SYS_PING = 5, SYS_EXPECT_IDT = 6 };
enum { CHECK_CS3, CHECK_INT80, CHECK_PF_SUPERVISOR, CHECK_PF_READONLY, CHECK_SYSRET };

static u64 idt[2 * 256] __attribute__((aligned(16)));
static u64 gdt[8] __attribute__((aligned(16)));
static struct tss {
	u32 reserved0;
	u64 rsp[3];
	u64 reserved1;
	u64 ist[7];
	u64 reserved2;
	u16 reserved3;
	u16 iomap;
} __attribute__((packed)) tss __attribute__((aligned(16)));
static u8 kstack[16384] __attribute__((aligned(16)));
static u8 df_stack[8192] __attribute__((aligned(16)));
static u8 user_stack[8192] __attribute__((aligned(16)));
static struct { u64 kernel_rsp, user_rsp, magic; } percpu;
u64 kernel_saved_rsp;
volatile u64 recover_rip;
static volatile u64 last_vector = ~0ul, last_error, last_cs, last_frame;
static volatile u64 secret = SECRET;
static volatile u64 scratch;
static u64 *pdpt;
static int failures;

static void check(const char *what, int ok) {
	puts(ok ? "ok   " : "FAIL ");
	puts(what);
	putc('\n');
	failures += !ok;
}

static void set_gate(int vec, char *handler, int dpl, int ist) {
	u64 h = (u64)handler;
	idt[2 * vec] = (h & 0xffff) | (0x08ul << 16) | ((u64)ist << 32) | ((0x8eul | (u64)dpl << 5) << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = h >> 32;
}

static void wrmsr(u32 msr, u64 v) {
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

static u64 rdmsr(u32 msr) {
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return lo | (u64)hi << 32;
}

static void invlpg(u64 va) {
	__asm__ volatile("invlpg (%0)" : : "r"(va) : "memory");
}

static void flush_tlb(void) {
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0\n\tmov %0, %%cr3" : "=r"(cr3) : : "memory");
}

/* Traps: user page faults are fixed and retried; other expected faults resume at recover_rip. */
void on_trap(struct frame *f, struct regs *r) {
	if (f->vector == 0x80) { /* INT 0x80 system call: ping returns 6 times its argument */
		last_frame = (u64)f;
		last_cs = f->cs;
		r->rax = r->rax == SYS_PING ? r->rdi * 6 : ~0ul;
		return;
	}
	last_vector = f->vector;
	last_error = f->error;
	last_cs = f->cs;
	last_frame = (u64)f;
	if (f->vector == 14 && (f->cs & 3) == 3) {
		u64 cr2;
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		if (f->error == 5 && cr2 >> 30 == 5) {
			pdpt[5] |= 4; /* the supervisor page becomes a user page: the load runs again */
			invlpg(cr2);
			return;
		}
		if (f->error == 7 && cr2 >> 30 == 6) {
			pdpt[6] |= 2; /* the read-only page becomes writable: the store runs again */
			invlpg(cr2);
			return;
		}
	}
	f->rip = recover_rip;
}

static int expect(u64 vector, u64 error) {
	int ok = last_vector == vector && last_error == error;
	last_vector = ~0ul;
	return ok;
}

static int in_kstack(u64 a) {
	return a >= (u64)kstack && a < (u64)kstack + sizeof kstack;
}

/* System calls from ring 3 (SYSCALL: rax, rdi, rsi; the entry swapped GS to the per-CPU area). */
u64 do_syscall(u64 nr, u64 a0, u64 a1) {
	u64 magic;
	__asm__ volatile("movq %%gs:16, %0" : "=r"(magic));
	if (magic != 0x7065726370750000ul) {
		puts("FAIL syscall entry: GS does not point at the per-CPU area after SWAPGS\n");
		failures++;
	}
	switch (nr) {
	case SYS_WRITE:
		puts((const char *)a0);
		return 0;
	case SYS_EXPECT: /* the last fault was vector a0 with error code a1, taken in ring 3 on RSP0 */
		return expect(a0, a1) && last_cs == 0x2b && in_kstack(last_frame);
	case SYS_EXPECT_IDT: /* the last fault was #GP naming IDT entry a0 (the SDM's a0 * 8 + 2; QEMU 7.2 reports a0 * 16 + 2) */
		return last_vector == 13 && (last_error & 3) == 2 && (last_error >> 3 == a0 || last_error >> 4 == a0) && expect(13, last_error);
	case SYS_CHECK:
		switch (a0) {
		case CHECK_CS3:
			check("iretq to ring 3: CS = 0x2b", a1);
			break;
		case CHECK_INT80:
			check("int 0x80 through a DPL 3 gate: on RSP0, CS 0x2b pushed, result returned by iretq",
			      a1 && last_cs == 0x2b && in_kstack(last_frame));
			break;
		case CHECK_PF_SUPERVISOR:
			check("ring 3 reads a supervisor page: #PF error 5, handled and resumed", a1);
			break;
		case CHECK_PF_READONLY:
			check("ring 3 writes a read-only page: #PF error 7, handled and resumed", a1);
			break;
		case CHECK_SYSRET:
			check("syscall and sysretq: back in ring 3, R11 holds RFLAGS", a1);
			break;
		}
		return 0;
	case SYS_EXIT:
		back_to_kernel();
	}
	return ~0ul;
}

/* Ring 3 ------------------------------------------------------------------------------------ */

static inline u64 sys(u64 nr, u64 a0, u64 a1) {
	u64 ret;
	__asm__ volatile("syscall" : "=a"(ret), "+D"(a0), "+S"(a1) : "a"(nr) : "rcx", "r11", "rdx", "r8", "r9", "r10", "memory");
	return ret;
}

#define USER_EXPECT_FAULT(insns)                                                                     \
	__asm__ volatile("lea 1f(%%rip), %%r11\n\tmov %%r11, recover_rip(%%rip)\n\t" insns "\n1:" : : : "r11", "memory")

static void user_main(void) {
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	sys(SYS_CHECK, CHECK_CS3, cs == 0x2b);
	sys(SYS_WRITE, (u64) "ring 3 writes this line through syscall\n", 0);

	u64 ret, rcx, r11;
	__asm__ volatile("syscall\n\tmov %%rcx, %1\n\tmov %%r11, %2"
			 : "=a"(ret), "=r"(rcx), "=r"(r11)
			 : "a"(SYS_CHECK), "D"(~0ul), "S"(0)
			 : "rcx", "r11", "rdx", "r8", "r9", "r10", "memory");
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	sys(SYS_CHECK, CHECK_SYSRET, cs == 0x2b && (r11 & 0x202) == 0x2);

	u64 r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(SYS_PING), "D"(7) : "memory");
	sys(SYS_CHECK, CHECK_INT80, r == 42);

	volatile u64 *supervisor = (volatile u64 *)(5 * GIB + (u64)&secret);
	sys(SYS_CHECK, CHECK_PF_SUPERVISOR, *supervisor == SECRET && sys(SYS_EXPECT, 14, 5));

	volatile u64 *readonly = (volatile u64 *)(6 * GIB + (u64)&scratch);
	*readonly = 0x1234;
	sys(SYS_CHECK, CHECK_PF_READONLY, scratch == 0x1234 && sys(SYS_EXPECT, 14, 7));

	USER_EXPECT_FAULT("cli");
	sys(SYS_WRITE, sys(SYS_EXPECT, 13, 0) ? (u64) "ok   ring 3 cli: #GP(0)\n" : (u64) "FAIL ring 3 cli: #GP(0)\n", 0);
	USER_EXPECT_FAULT("int $0x21");
	sys(SYS_WRITE, sys(SYS_EXPECT_IDT, 0x21, 0) ? (u64) "ok   ring 3 int 0x21 through a DPL 0 gate: #GP naming IDT entry 0x21\n"
						    : (u64) "FAIL ring 3 int 0x21 through a DPL 0 gate: #GP naming IDT entry 0x21\n", 0);
	sys(SYS_EXIT, 0, 0);
}

/* Ring 0 ------------------------------------------------------------------------------------ */

#define EXPECT_FAULT(insns, ...)                                                                    \
	do {                                                                                        \
		last_vector = ~0ul;                                                                 \
		__asm__ volatile("lea 1f(%%rip), %%r11\n\tmov %%r11, recover_rip(%%rip)\n\t" insns "\n1:" \
				 : : __VA_ARGS__ : "r11", "rax", "rdx", "memory", "cc");                 \
	} while (0)

int main(const struct hvm_start_info *si) {
	int msrcheck = cmdline_u64(si, "msrcheck", 1) != 0;

	/* Ring 3 may use the first GiB (U/S at every level); 5 GiB and 6 GiB map physical 0 again, supervisor only and read-only. */
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u64 *pml4 = (u64 *)(cr3 & ~0xffful);
	pml4[0] |= 4;
	pdpt = (u64 *)(pml4[0] & 0x000ffffffffff000ul);
	pdpt[0] |= 4;
	u64 *pd = (u64 *)(pdpt[0] & 0x000ffffffffff000ul);
	for (int i = 0; i < 512; i++)
		pd[i] |= 4;
	pdpt[5] = 0x83;
	pdpt[6] = 0x85;
	flush_tlb();

	/* Linux's GDT layout: kernel code and data, 32-bit user code, user data, 64-bit user code, the TSS. */
	u64 t = (u64)&tss;
	tss.rsp[0] = (u64)kstack + sizeof kstack;
	tss.ist[0] = (u64)df_stack + sizeof df_stack;
	tss.iomap = sizeof tss;
	gdt[1] = 0x00af9a000000fffful;
	gdt[2] = 0x00cf92000000fffful;
	gdt[3] = 0x00cffa000000fffful;
	gdt[4] = 0x00cff2000000fffful;
	gdt[5] = 0x00affa000000fffful;
	gdt[6] = (sizeof tss - 1) | (t & 0xffffff) << 16 | 0x89ul << 40 | (t >> 24 & 0xff) << 56;
	gdt[7] = t >> 32;
	struct { u16 limit; u64 base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (u64)gdt};
	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	__asm__ volatile("ltr %w0" : : "r"(0x30));
	u16 tr;
	__asm__ volatile("str %0" : "=r"(tr));
	check("ltr: the TSS is loaded and marked busy, str reads 0x30", tr == 0x30 && (((volatile u64 *)gdt)[6] >> 40 & 0xf) == 0xb);

	set_gate(6, vector6, 0, 0);
	set_gate(8, vector8, 0, 1);
	set_gate(13, vector13, 0, 0);
	set_gate(14, vector14, 0, 0);
	set_gate(0x21, vector0x21, 0, 0);
	set_gate(0x80, vector0x80, 3, 0);
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));

	/* SYSCALL: EFER.SCE, kernel CS 0x08 (SS 0x10), user base 0x18 (SS 0x23, CS 0x2b), mask IF, TF, DF, AC. */
	wrmsr(0xc0000080, rdmsr(0xc0000080) | 1);
	wrmsr(0xc0000081, 0x0018000800000000ul);
	wrmsr(0xc0000082, (u64)syscall_entry);
	wrmsr(0xc0000084, 0x40700);
	percpu.kernel_rsp = (u64)kstack + sizeof kstack;
	percpu.magic = 0x7065726370750000ul;
	wrmsr(0xc0000101, 0);
	wrmsr(0xc0000102, (u64)&percpu);

	enter_user(user_main, user_stack + sizeof user_stack);
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	check("the exit system call returns to ring 0", cs == 0x08 && rdmsr(0xc0000102) == (u64)&percpu);

	if (msrcheck) {
		EXPECT_FAULT("rdmsr", "c"(0x12345));
		check("rdmsr of an unknown MSR: #GP(0)", expect(13, 0));
	}

	/* #GP whose gate is not present: #NP, and #GP then #NP is a double fault, taken on IST1. */
	u64 gp_gate = idt[2 * 13];
	idt[2 * 13] &= ~(1ul << 47);
	EXPECT_FAULT("movq (%0), %%rax", "r"(0x8000000000000000ul));
	idt[2 * 13] = gp_gate;
	check("a fault delivering #GP: double fault, error 0, on the IST1 stack",
	      last_vector == 8 && last_error == 0 && last_frame >= (u64)df_stack && last_frame < (u64)df_stack + sizeof df_stack);

	puts("rings: ");
	put_dec((u64)failures);
	puts(" failures\n");
	return failures;
}
