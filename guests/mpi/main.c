#include "../common/guest.h"
#include "../common/pvh.h"
#include "mpi.h"

int main(const struct hvm_start_info *si) {
	u64 iterations = cmdline_u64(si, "iterations", 10);
	puts("mpi: ");
	put_dec(iterations);
	puts(" iterations, checksum ");
	put_hex(mpi(iterations));
	putc('\n');
	return 0;
}
