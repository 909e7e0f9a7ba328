/*
 * What an AP runs after INIT and its start-up IPI: real mode at CS = TRAMP >> 4, IP = 0 (the
 * code below, copied to TRAMP by vCPU 0), the way Linux's trampoline_64.S goes: 16-bit code that
 * exercises 16-bit addressing, the 0x66 prefix, CPUID and an interrupt through its own IVT; then
 * LIDT/LGDT with 32-bit operands, CR0.PE, a far jump to 32-bit protected mode, PAE, EFER.LME and
 * paging, a far jump to 64-bit code, and into ap_main in the guest image.
 */
	.file "trampoline.S"
#include "sipi.h"

#define OFF(x) ((x) - tramp_start)

	.section .rodata.tramp, "a"
	.globl tramp_start, tramp_end
	.code16
tramp_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $T_RM_STACK, %sp
	movw %ax, T_RM_CS

	/* 16-bit addressing: [bx+si], [bp+di+disp8] (through SS, the same segment here), [di+disp16]. */
	movw $OFF(words), %bx
	movw $2, %si
	movw (%bx,%si), %dx             /* 0x0200 */
	movw %bx, %bp
	movw $4, %di
	addw 2(%bp,%di), %dx            /* + 0x0030 */
	addw OFF(words)(%di), %dx       /* + 0x0004 */
	call add_first                  /* + 0x1000, a near call on the 16-bit stack */
	movw %dx, T_RM_SUM

	/* The 0x66 prefix: 32-bit registers and immediates in 16-bit code. */
	movl $0x12345678, %eax
	addl $0x11111111, %eax
	movl %eax, T_RM_EAX

	/* CPUID in real mode, as verify_cpu does. */
	movl $1, %eax
	cpuid
	shrl $24, %ebx
	movw %bx, T_RM_APIC

	/* An interrupt through this AP's IVT: entry 0x30 -> CS:rm_int. */
	movw $OFF(rm_int), T_IVT + 0x30 * 4
	movw %cs, T_IVT + 0x30 * 4 + 2
	lidtl OFF(rm_idt)
	int $0x30

	/* To protected mode: LIDT of an empty IDT, LGDT with a 32-bit base, PE, a far jump with a 32-bit offset. */
	lidtl OFF(null_idt)
	lgdtl OFF(gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x18, $(TRAMP + OFF(start32))

add_first:
	addw (%bx), %dx                 /* + 0x1000 */
	ret

rm_int:
	movw $0x5a5a, %cs:T_RM_INT
	iret

	.code32
start32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movl TRAMP + T_CR3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER.LME */
	rdmsr
	orl $0x100, %eax
	wrmsr
	movl %cr0, %eax
	orl $0x80000000, %eax           /* PG: long mode, still 32-bit code */
	movl %eax, %cr0
	ljmp $0x08, $(TRAMP + OFF(start64))

	.code64
start64:
	movq TRAMP + T_STACK, %rsp
	movq TRAMP + T_ENTRY, %rax
	jmp *%rax

	.balign 8
words:
	.word 0x1000, 0x0200, 0x0004, 0x0030
gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
	.quad 0x00cf9a000000ffff        /* 0x18: 32-bit code */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long TRAMP + OFF(gdt)
rm_idt:
	.word 0x3ff
	.long TRAMP + T_IVT
null_idt:
	.word 0
	.long 0
tramp_end:

	.text
	.code64
	.globl ap_entry64
ap_entry64:                             /* on the stack vCPU 0 gave this AP */
	call ap_main
1:	cli
	hlt
	jmp 1b
