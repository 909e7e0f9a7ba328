#include "../common/guest.h"
#include "../common/pvh.h"
#include "workload.h"

int main(const struct hvm_start_info *si) {
	u64 iterations = cmdline_u64(si, "iterations", 10);
	puts("workload: ");
	put_dec(iterations);
	puts(" iterations, checksum ");
	u64 crc = workload(iterations);
	put_hex(crc);
	putc('\n');
	return 0;
}
