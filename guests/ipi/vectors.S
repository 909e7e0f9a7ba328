/* The IPI vector's stub: save the caller-saved registers, call C, iretq. */
	.file "vectors.S"
	.text
	.code64

	.globl ipi_entry
ipi_entry:
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
	call on_ipi
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
