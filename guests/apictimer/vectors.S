/* Interrupt stubs of the LAPIC timer guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB timer_entry, on_timer

	/* The spurious-interrupt vector: no EOI (SDM 11.9). */
	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
