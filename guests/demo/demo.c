/*
 * The demo guest: it prints to the console, converts one of its pages between private and shared
 * through the backend (KVM_HC_MAP_GPA_RANGE; on SNP and TDX it validates/accepts the page it takes
 * back, as the hardware requires), and reports what it observed. Run it with each
 * backend to see their semantics: plain refuses conversions, pkvm keeps the content, sev, snp and
 * tdx destroy it.
 */
#include "../common/guest.h"
#include "../common/coco.h"

static volatile u64 page[512] __attribute__((aligned(4096)));

static void report(const char *what, s64 rc) {
	puts(what);
	if (rc == 0) {
		puts(": ok");
	} else {
		puts(": refused (errno ");
		put_dec((u64)-rc);
		putc(')');
	}
	putc('\n');
}

static const char *content(volatile u64 *p, u64 expected) {
	return p[0] == expected && p[511] == ~expected ? "kept" : p[0] == 0 && p[511] == 0 ? "destroyed" : "changed";
}

int main(void) {
	u64 gpa = (u64)page;
	u32 cbit = 0;
	enum coco kind = coco_kind(&cbit);
	puts("Cloister demo guest: converting the page at ");
	put_hex(gpa);
	putc('\n');
	page[0] = 0x1122334455667788ul;
	page[511] = ~0x1122334455667788ul;

	s64 rc = hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 0);
	report("private -> shared", rc);
	if (rc == 0) {
		/* A shared page is reached through a shared mapping (no C-bit; TDX: the shared bit). */
		volatile u64 *shared = shared_view(kind, gpa);
		puts("content after sharing: ");
		puts(content(shared, 0x1122334455667788ul));
		putc('\n');
		shared[0] = 0xabcdef;
		shared[511] = ~0xabcdeful;
		rc = hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, MAP_GPA_ENCRYPTED);
		report("shared -> private", rc);
		coco_take_back(kind, gpa); /* SNP: pvalidate, TDX: accept; touching it before faults */
		puts("content after unsharing: ");
		puts(content(page, 0xabcdef));
		putc('\n');
	}
	report("bad attributes", hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 1 << 2));
	report("outside memory", hypercall3(KVM_HC_MAP_GPA_RANGE, 1ul << 40, 1, 0));
	report("unaligned", hypercall3(KVM_HC_MAP_GPA_RANGE, gpa + 8, 1, 0));
	puts("demo done\n");
	return 0;
}
