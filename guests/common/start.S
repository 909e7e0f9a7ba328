/*
 * PVH entry for Cloister test guests. The VMM enters here in 32-bit protected mode, paging off,
 * flat segments, %ebx = physical address of the PVH start_info. We build page tables that
 * identity-map the first 4 GiB with 2 MiB pages, switch to long mode and call main(start_info).
 * main's return value goes to the isa-debug-exit port (0xf4).
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18
#include "longmode.h"

	.file "start.S"  /* else the assembler names the temporary object, and builds differ */

	.section .note.pvh, "a"
	.align 4
	.long 4            /* name size */
	.long 4            /* desc size */
	.long XEN_ELFNOTE_PHYS32_ENTRY
	.asciz "Xen"
	.long _start32

	.section .text.boot, "ax"
	.code32
	.globl _start32
_start32:
	cli
	cld
	movl %ebx, %esi                 /* keep start_info */
	movl $boot_stack_top, %esp

	/* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 512 x 2 MiB pages. */
	movl $pdpt, %eax
	orl $0x3, %eax
	movl %eax, pml4
	movl $0, %ecx
1:	movl %ecx, %eax
	shll $12, %eax
	addl $pd, %eax
	orl $0x3, %eax
	movl %eax, pdpt(,%ecx,8)
	incl %ecx
	cmpl $4, %ecx
	jne 1b
	movl $0, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $0x83, %eax                 /* present, writable, 2 MiB */
	movl %eax, pd(,%ecx,8)
	movl %ecx, %eax
	shrl $11, %eax                  /* high 32 bits of (ecx << 21) */
	movl %eax, pd+4(,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 2b

	/*
	 * SEV/SNP: our memory is private, so every mapping carries the C-bit. Like Linux: CPUID
	 * 0x8000001F must offer SEV and the SEV_STATUS MSR say it is active; the bit position is
	 * CPUID 0x8000001F EBX[5:0].
	 */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x8000001f, %eax
	jb 4f
	movl $0x8000001f, %eax
	cpuid
	testl $2, %eax
	jz 4f
	movl %ebx, %edi
	movl $0xc0010131, %ecx
	rdmsr
	testl $1, %eax
	jz 4f
	movl %edi, %ecx
	andl $63, %ecx
	subl $32, %ecx
	movl $1, %edx
	shll %cl, %edx                  /* the C-bit within the high half of an entry */
	movl %edx, cbit_high
	xorl %ecx, %ecx
3:	orl %edx, pd+4(,%ecx,8)
	incl %ecx
	cmpl $2048, %ecx
	jne 3b
4:
	movl $pml4, %eax
	ENTER_LONG_MODE gdt_desc, _start64

	.code64
_start64:
	FLAT_DATA_SEGMENTS
	movq $stack_top, %rsp
	movl %esi, %edi                 /* main(start_info) */
	call main
	movl %eax, %edi
	call guest_exit
3:	hlt
	jmp 3b

	.section .rodata
	.align 8
gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10: data */
gdt_desc:
	.word gdt_desc - gdt - 1
	.long gdt

	.data
	.globl cbit_high
	.align 4
cbit_high:
	.long 0                         /* the C-bit in the high half of a page-table entry, or 0 */

	.section .bss
	.align 4096
pml4:	.space 4096
pdpt:	.space 4096
pd:	.space 4096 * 4
boot_stack:
	.space 4096
boot_stack_top:
	.space 65536
stack_top:
