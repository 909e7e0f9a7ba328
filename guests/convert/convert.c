/*
 * Converts pages between private and shared with KVM_HC_MAP_GPA_RANGE and reports what it saw:
 * whether the backend allowed the conversion and whether the page kept its content. The test
 * checks the report against the active backend's semantics.
 */
#include "../common/guest.h"

static volatile u64 page[512] __attribute__((aligned(4096)));

static void report(const char *what, s64 rc) {
	puts(what);
	if (rc == 0) {
		puts(": ok");
	} else {
		puts(": refused ");
		put_dec((u64)-rc);
	}
	putc('\n');
}

int main(void) {
	u64 gpa = (u64)page;
	page[0] = 0x1122334455667788ul;
	page[511] = 0x8877665544332211ul;

	s64 rc = hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 0);
	report("to shared", rc);
	if (rc == 0) {
		puts(page[0] == 0x1122334455667788ul && page[511] == 0x8877665544332211ul ? "content: kept\n"
		     : page[0] == 0 && page[511] == 0 ? "content: destroyed\n" : "content: changed\n");
		page[0] = 0xabcdef;
		rc = hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, MAP_GPA_ENCRYPTED);
		report("to private", rc);
		puts(page[0] == 0xabcdef ? "content: kept\n" : page[0] == 0 ? "content: destroyed\n" : "content: changed\n");
	}
	report("bad attributes", hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 1 << 2));
	report("outside memory", hypercall3(KVM_HC_MAP_GPA_RANGE, 1ul << 40, 1, 0));
	report("unaligned", hypercall3(KVM_HC_MAP_GPA_RANGE, gpa + 8, 1, 0));
	return 0;
}
