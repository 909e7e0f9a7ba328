/* Interrupt stubs of the echo guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB uart_entry, on_uart

	/* The spurious-interrupt vector: no EOI (SDM 11.9). */
	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
