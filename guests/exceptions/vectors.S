/* IDT entry stubs of the exceptions guest. */
	.file "vectors.S"
#include "../common/stubs.h"
	.text
	.code64

STUB 0, 0
STUB 3, 0
STUB 6, 0
STUB 8, 1
STUB 13, 1
STUB 14, 1
EXCEPTION_COMMON
