/* Interrupt stubs of the interrupt-latency guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB pit_entry, on_pit
INTERRUPT_STUB uart_entry, on_uart

	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
