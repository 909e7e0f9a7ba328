/* The chase guest's oracle: the same code compiled for the host. Usage: native ITERATIONS */
#include <stdio.h>
#include <stdlib.h>
#include "chase.h"

int main(int argc, char **argv) {
	unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 10;
	printf("chase: %lu iterations, checksum 0x%016lx\n", n, chase(n));
	return 0;
}
