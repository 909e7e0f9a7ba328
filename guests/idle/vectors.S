/* Interrupt stubs of the idle guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB timer_entry, on_timer

	.globl spurious_entry
spurious_entry:
	incq spurious(%rip)
	iretq
