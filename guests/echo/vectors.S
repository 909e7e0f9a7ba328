/* Interrupt stubs of the echo guest: save the caller-saved registers, call C, iretq. */
	.file "vectors.S"
	.text
	.code64

	.globl uart_entry
uart_entry:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	cld
	call on_uart
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	iretq

	/* The spurious-interrupt vector: no EOI (SDM 11.9). */
	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
