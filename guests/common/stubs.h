/*
 * Interrupt-stub helpers for the guests' vectors.S: the System V caller-saved registers are
 * pushed around the call into C, so the C handler may clobber them and the interrupted code
 * sees none of it.
 */
.macro SAVE_CALLER_SAVED
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
.endm

.macro RESTORE_CALLER_SAVED
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
.endm

/* An IDT entry that calls the C function \handler (no arguments) and returns with iretq. */
.macro INTERRUPT_STUB name, handler
	.globl \name
\name:
	SAVE_CALLER_SAVED
	cld
	call \handler
	RESTORE_CALLER_SAVED
	iretq
.endm

/*
 * Exception entries: STUB pushes a zero error code where the CPU pushes none, then the vector, and
 * jumps to the one EXCEPTION_COMMON, which calls on_exception(&frame) with the frame
 * {vector, error, rip, cs, rflags, rsp, ss}.
 */
.macro STUB vec, has_error
	.globl vector\vec
vector\vec:
	.if \has_error == 0
	pushq $0
	.endif
	pushq $\vec
	jmp common
.endm

.macro EXCEPTION_COMMON
common:
	SAVE_CALLER_SAVED
	leaq 72(%rsp), %rdi            /* &frame: vector, error, rip, cs, rflags, rsp, ss */
	call on_exception
	RESTORE_CALLER_SAVED
	addq $16, %rsp                 /* vector and error code */
	iretq
.endm
