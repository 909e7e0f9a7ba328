#include "../common/guest.h"
#include "../common/pvh.h"
#include "chase.h"

int main(const struct hvm_start_info *si) {
	u64 iterations = cmdline_u64(si, "iterations", 10);
	puts("chase: ");
	put_dec(iterations);
	puts(" iterations, checksum ");
	put_hex(chase(iterations));
	putc('\n');
	return 0;
}
