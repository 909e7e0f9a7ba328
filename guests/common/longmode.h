/*
 * Long-mode entry shared by the vCPU entry points (start.S for vCPU 0, smp/ap.S for the others).
 * ENTER_LONG_MODE: with %eax = the PML4's physical address, turns on PAE, EFER.LME and paging, loads
 * the GDT described at gdt_desc and jumps to target as 64-bit code (selector 0x08).
 * FLAT_DATA_SEGMENTS: selector 0x10 into %ds, %es and %ss.
 */
.macro ENTER_LONG_MODE gdt_desc, target
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
	lgdt \gdt_desc
	ljmp $0x08, $\target
.endm

.macro FLAT_DATA_SEGMENTS
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
.endm
