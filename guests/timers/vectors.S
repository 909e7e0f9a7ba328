/* Interrupt stubs of the timers guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB lapic_entry, on_lapic
INTERRUPT_STUB pit_entry, on_pit

	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
