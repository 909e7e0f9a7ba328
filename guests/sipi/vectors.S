/* The IPI vector's stub. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

INTERRUPT_STUB ipi_entry, on_ipi
