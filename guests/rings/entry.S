/*
 * Ring transitions for the rings guest: IDT stubs (a zero error code where the CPU pushes none,
 * then the vector), the common trap path, the SYSCALL entry (SWAPGS, the per-CPU kernel stack)
 * and SYSRETQ back, IRETQ into ring 3 (enter_user) and the way back from the exit system call.
 */
	.file "entry.S"
#include "../common/stubs.h"
	.text
	.code64

STUB 6, 0
STUB 8, 1
STUB 13, 1
STUB 14, 1
STUB 0x21, 0
STUB 0x80, 0

common:
	SAVE_CALLER_SAVED
	leaq 72(%rsp), %rdi            /* &frame: vector, error, rip, cs, rflags, rsp, ss */
	movq %rsp, %rsi                /* &regs: r11 ... rax */
	call on_trap
	RESTORE_CALLER_SAVED
	addq $16, %rsp                 /* vector and error code */
	iretq

/* SYSCALL: rax = number, rdi and rsi the arguments; the per-CPU area holds the kernel stack at 0 and the user's at 8. */
	.globl syscall_entry
syscall_entry:
	swapgs
	movq %rsp, %gs:8
	movq %gs:0, %rsp
	pushq %rcx
	pushq %r11
	movq %rsi, %rdx
	movq %rdi, %rsi
	movq %rax, %rdi
	call do_syscall
	popq %r11
	popq %rcx
	movq %gs:8, %rsp
	swapgs
	sysretq

/* enter_user(rip, rsp): IRETQ to ring 3; returns when ring 3 makes the exit system call. */
	.globl enter_user
enter_user:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, kernel_saved_rsp(%rip)
	pushq $0x23                    /* SS: user data, RPL 3 */
	pushq %rsi
	pushq $0x2                     /* RFLAGS */
	pushq $0x2b                    /* CS: 64-bit user code, RPL 3 */
	pushq %rdi
	iretq

/* From do_syscall's exit: back on the kernel stack enter_user left, as if it returned. */
	.globl back_to_kernel
back_to_kernel:
	swapgs
	movq kernel_saved_rsp(%rip), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret
