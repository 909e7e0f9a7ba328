/*
 * Instructions an emulator may forget: far returns (lret with each operand size, to a good, null,
 * non-code and not-present selector), iret with a 64- and a 32-bit frame (and a null CS: #GP),
 * xlat, ins/outs with and without rep (on the UART's scratch register and transmitter), loop,
 * loope, loopne, jrcxz and jecxz. Each check prints what it saw; runs unchanged on QEMU.
 */
#include "../common/guest.h"

struct frame { u64 vector, error, rip, cs, rflags, rsp, ss; };

extern char vector6[], vector11[], vector13[];

static u64 idt[2 * 32] __attribute__((aligned(16)));
/* 0x08 64-bit code, 0x10 data, 0x18 data (not code), 0x20 64-bit code not present */
static u64 gdt[] = {0, 0x00af9a000000ffff, 0x00cf92000000ffff, 0x00cf92000000ffff, 0x002f1a000000ffff};
static volatile u64 last_vector, last_error;
u64 recover_rip, recover_rsp;

void on_exception(struct frame *f) {
	last_vector = f->vector;
	last_error = f->error;
	f->rip = recover_rip;
	f->rsp = recover_rsp;
	f->cs = 0x08;
}

static void set_gate(int vec, char *handler) {
	u64 h = (u64)handler;
	idt[2 * vec] = (h & 0xffff) | (0x08ul << 16) | (0x8eul << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = h >> 32;
}

static void show(const char *what, u64 v) {
	puts(what);
	puts(": ");
	put_hex(v);
	putc('\n');
}

/* Runs insns with recover_rip/recover_rsp set to just after them; returns the vector raised (or ~0). */
#define TRY(insns, ...)                                                                             \
	({                                                                                          \
		last_vector = ~0ul;                                                                 \
		__asm__ volatile("lea 1f(%%rip), %%r11\n\tmov %%r11, recover_rip(%%rip)\n\t"      \
				 "mov %%rsp, recover_rsp(%%rip)\n\t" insns "\n1:"                        \
				 : : __VA_ARGS__ : "r11", "rax", "rcx", "rdx", "memory", "cc");         \
		last_vector;                                                                        \
	})

/* A far return to selector sel with operand size prefix: q (64), l (32). */
static void far_returns(void) {
	u64 v = TRY("push $0x08\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tlretq\n\tud2\n2:", "r"(0));
	show("lretq to 0x08", v);
	v = TRY("lea 2f(%%rip), %%rax\n\tsub $8, %%rsp\n\tmovl %%eax, (%%rsp)\n\tmovl $0x08, 4(%%rsp)\n\tlretl\n\tud2\n2:", "r"(0));
	show("lretl to 0x08", v);
	u64 before, after;
	__asm__ volatile("mov %%rsp, %0\n\tpush $0x08\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tlretq $16\n2:\tmov %%rsp, %1\n\tadd $-16, %%rsp"
			 : "=r"(before), "=r"(after) : : "rax", "memory");
	show("lretq $16 releases", after - before);
	v = TRY("push $0\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tlretq\n2:", "r"(0));
	show("lretq to null: vector", v);
	show("  error", last_error);
	v = TRY("push $0x18\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tlretq\n2:", "r"(0));
	show("lretq to a data segment: vector", v);
	show("  error", last_error);
	v = TRY("push $0x20\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tlretq\n2:", "r"(0));
	show("lretq to a segment not present: vector", v);
	show("  error", last_error);
}

static void irets(void) {
	u64 v = TRY("mov %%rsp, %%rax\n\tpush $0x10\n\tpush %%rax\n\tpushfq\n\tpush $0x08\n\tlea 2f(%%rip), %%rax\n\tpush %%rax\n\tiretq\n\tud2\n2:",
		    "r"(0));
	show("iretq", v);
	/* A 32-bit frame: eip, cs, eflags, esp, ss; 64-bit mode always pops ss:esp. */
	v = TRY("mov %%rsp, %%rdx\n\tsub $20, %%rsp\n\tlea 2f(%%rip), %%rax\n\tmovl %%eax, (%%rsp)\n\tmovl $0x08, 4(%%rsp)\n\t"
		"pushfq\n\tpop %%rax\n\tmovl %%eax, 8(%%rsp)\n\tmovl %%edx, 12(%%rsp)\n\tmovl $0x10, 16(%%rsp)\n\tiretl\n\tud2\n2:", "r"(0));
	show("iretl", v);
	v = TRY("mov %%rsp, %%rdx\n\tsub $20, %%rsp\n\tlea 2f(%%rip), %%rax\n\tmovl %%eax, (%%rsp)\n\tmovl $0, 4(%%rsp)\n\t"
		"pushfq\n\tpop %%rax\n\tmovl %%eax, 8(%%rsp)\n\tmovl %%edx, 12(%%rsp)\n\tmovl $0x10, 16(%%rsp)\n\tiretl\n2:", "r"(0));
	show("iretl to a null cs: vector", v);
	show("  error", last_error);
}

static void xlat_test(void) {
	static u8 table[256];
	for (int i = 0; i < 256; i++)
		table[i] = (u8)(i * 7 + 3);
	u64 rax = 0x1234567890abcd00ul | 200;
	__asm__ volatile("xlatb" : "+a"(rax) : "b"(table) : "memory");
	show("xlat", rax);
}

static void io_strings(void) {
	static const char text[] = "rep outsb to the UART\n";
	u64 rsi = (u64)text, rcx = sizeof text - 1;
	__asm__ volatile("rep outsb" : "+S"(rsi), "+c"(rcx) : "d"(0x3f8) : "memory");
	show("rep outsb left rcx", rcx);
	show("  and advanced rsi by", rsi - (u64)text);
	static const u8 scratch[] = {0x11, 0x22, 0x5a};
	rsi = (u64)scratch;
	__asm__ volatile("outsb\n\toutsb\n\toutsb" : "+S"(rsi) : "d"(0x3ff) : "memory");
	u8 back[4] = {0};
	u64 rdi = (u64)back;
	__asm__ volatile("insb" : "+D"(rdi) : "d"(0x3ff) : "memory");
	show("insb from the scratch register", back[0]);
	rdi = (u64)back;
	rcx = 3;
	__asm__ volatile("rep insb" : "+D"(rdi), "+c"(rcx) : "d"(0x3fd) : "memory");
	show("rep insb from the line status register", back[0] | back[1] << 8 | back[2] << 16 | (u64)back[3] << 24);
	show("  advanced rdi by", rdi - (u64)back);
	u64 flags;
	rdi = (u64)(back + 3);
	__asm__ volatile("std\n\tinsb\n\tcld\n\tpushfq\n\tpop %1" : "+D"(rdi), "=r"(flags) : "d"(0x3ff) : "memory");
	show("insb with DF set moved rdi by", rdi - (u64)(back + 3));
}

static void loops(void) {
	u64 n = 0, rcx = 5;
	__asm__ volatile("1:\tinc %0\n\tloop 1b" : "+r"(n), "+c"(rcx));
	show("loop 5 times", n);
	show("  rcx", rcx);
	n = 0;
	rcx = 10;
	/* loope: stops when ZF = 0 (n reaches 3) */
	__asm__ volatile("1:\tinc %0\n\tcmp $3, %0\n\tsetb %%al\n\tcmp $1, %%al\n\tloope 1b" : "+r"(n), "+c"(rcx) : : "rax", "cc");
	show("loope ran", n);
	show("  rcx", rcx);
	n = 0;
	rcx = 10;
	__asm__ volatile("1:\tinc %0\n\tcmp $4, %0\n\tloopne 1b" : "+r"(n), "+c"(rcx) : : "cc");
	show("loopne ran", n);
	show("  rcx", rcx);
	u64 taken;
	rcx = 0x100000000ul;
	__asm__ volatile("xor %0, %0\n\tjecxz 1f\n\tinc %0\n1:" : "=&r"(taken) : "c"(rcx));
	show("jecxz with ecx 0, rcx 2^32: fell through", taken);
	__asm__ volatile("xor %0, %0\n\tjrcxz 1f\n\tinc %0\n1:" : "=&r"(taken) : "c"(rcx));
	show("jrcxz with rcx 2^32: fell through", taken);
	rcx = 0x100000001ul;
	__asm__ volatile("1:\taddr32 loop 1b" : "+c"(rcx));
	show("addr32 loop from 0x100000001: rcx", rcx);
}

int main(void) {
	set_gate(6, vector6);
	set_gate(11, vector11);
	set_gate(13, vector13);
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));
	struct { u16 limit; u64 base; } __attribute__((packed)) gdtr = {sizeof gdt - 1, (u64)gdt};
	__asm__ volatile("lgdt %0" : : "m"(gdtr));
	far_returns();
	irets();
	xlat_test();
	io_strings();
	loops();
	puts("insns: done\n");
	return 0;
}
