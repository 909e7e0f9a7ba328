/* IDT entry stubs: push a zero error code where the CPU pushes none, then the vector. */
	.file "vectors.S"
	.text
	.code64

.macro STUB vec, has_error
	.globl vector\vec
vector\vec:
	.if \has_error == 0
	pushq $0
	.endif
	pushq $\vec
	jmp common
.endm

STUB 6, 0
STUB 11, 1
STUB 13, 1

common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	leaq 72(%rsp), %rdi            /* &frame: vector, error, rip, cs, rflags, rsp, ss */
	call on_exception
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp                 /* vector and error code */
	iretq
