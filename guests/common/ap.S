/*
 * Entry of a secondary vCPU of the guests in AP_GUESTS (Makefile), started by vCPU 0 with
 * Cloister's START_VCPU hypercall: 32-bit protected mode, paging off, %ebx = the vCPU's index (the
 * hypercall's argument). It takes the page tables vCPU 0 built (ap_cr3), enters long mode and calls
 * ap_main(index) on its own stack.
 */
	.file "ap.S"
#include "../common/longmode.h"

	.section .text, "ax"
	.code32
	.globl ap_start32
ap_start32:
	cli
	cld
	movl %ebx, %esi                 /* vCPU index */
	movl ap_cr3, %eax
	ENTER_LONG_MODE ap_gdt_desc, ap_start64

	.code64
ap_start64:
	FLAT_DATA_SEGMENTS
	movl %esi, %eax
	incl %eax
	shlq $14, %rax                  /* 16 KiB of ap_stacks per vCPU; the stack grows down */
	leaq ap_stacks(%rip), %rsp
	addq %rax, %rsp
	movl %esi, %edi
	call ap_main
1:	hlt
	jmp 1b

	.section .rodata
	.align 8
ap_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
ap_gdt_desc:
	.word ap_gdt_desc - ap_gdt - 1
	.long ap_gdt
