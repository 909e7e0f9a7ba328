/*
 * Entry of a secondary vCPU, started by vCPU 0 with Cloister's START_VCPU hypercall: 32-bit
 * protected mode, paging off, %ebx = the vCPU's index (the hypercall's argument). It takes the
 * page tables vCPU 0 built (ap_cr3), enters long mode and calls ap_main(index) on its own stack.
 */
	.file "ap.S"

	.section .text, "ax"
	.code32
	.globl ap_start32
ap_start32:
	cli
	cld
	movl %ebx, %esi                 /* vCPU index */
	movl ap_cr3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $0x20, %eax                 /* PAE */
	movl %eax, %cr4
	movl $0xc0000080, %ecx          /* EFER */
	rdmsr
	orl $0x100, %eax                /* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80000001, %eax           /* PG, PE */
	movl %eax, %cr0
	lgdt ap_gdt_desc
	ljmp $0x08, $ap_start64

	.code64
ap_start64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
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
