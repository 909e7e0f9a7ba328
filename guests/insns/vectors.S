/* IDT entry stubs of the instructions guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

STUB 6, 0
STUB 11, 1
STUB 13, 1
EXCEPTION_COMMON
