/*
 * Finds out which confidential-computing technology it runs under (CPUID 0x21 for TDX, 0x8000001F
 * and the SEV_STATUS MSR for SEV/SNP) and converts a page with that technology's own requests:
 * TDX tdcall MapGPA and Accept, SNP MAP_GPA_RANGE and pvalidate, SEV MAP_GPA_RANGE.
 */
#include "../common/guest.h"
#include "../common/coco.h"

static volatile u64 page[512] __attribute__((aligned(4096)));

static u64 rdmsr(u32 msr) {
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (u64)hi << 32 | lo;
}

/* TDG.VP.VMCALL<MapGPA>: returns the VMCALL status (r10). */
static u64 td_map_gpa(u64 gpa, u64 size) {
	register u64 r10 __asm__("r10") = 0;
	register u64 r11 __asm__("r11") = 0x10001;
	register u64 r12 __asm__("r12") = gpa;
	register u64 r13 __asm__("r13") = size;
	u64 rax = 0;
	__asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc" : "+a"(rax), "+r"(r10), "+r"(r11), "+r"(r12), "+r"(r13) : : "memory");
	return r10;
}

/* SNP page-state change through the GHCB MSR protocol; returns the response's error code. */
static u64 ghcb_psc(u64 gpa, int to_private) {
	u64 req = 0x014 | (gpa & 0x000ffffffffff000ul) | ((u64)(to_private ? 1 : 2) << 52);
	__asm__ volatile("wrmsr" : : "c"(0xc0010130), "a"((u32)req), "d"((u32)(req >> 32)));
	__asm__ volatile("rep; vmmcall" : : : "memory");
	u32 lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0010130));
	u64 resp = (u64)hi << 32 | lo;
	return (resp & 0xfff) == 0x015 ? resp >> 32 : ~0ul;
}

static void say(const char *what, u64 v) {
	puts(what);
	put_hex(v);
	putc('\n');
}

int main(void) {
	u64 gpa = (u64)page;
	u32 cbit = 0;
	enum coco kind = coco_kind(&cbit);
	if (kind == COCO_TDX) {
		puts("coco: TDX\n");
		say("map shared: ", td_map_gpa(gpa | (1ul << 47), 4096));
		say("map private: ", td_map_gpa(gpa, 4096));
		say("accept: ", td_accept(gpa));
		say("accept again: ", td_accept(gpa));
	} else if (kind == COCO_SNP) {
		puts("coco: SEV-SNP, C-bit ");
		put_dec(cbit);
		say(", SEV_STATUS ", rdmsr(0xc0010131));
		say("to shared: ", (u64)hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, 0));
		say("pvalidate shared: ", pvalidate(gpa, 1));
		say("to private: ", (u64)hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, MAP_GPA_ENCRYPTED));
		say("pvalidate: ", pvalidate(gpa, 1));
		say("ghcb to shared: ", ghcb_psc(gpa, 0));
		say("ghcb to private: ", ghcb_psc(gpa, 1));
		say("pvalidate again: ", pvalidate(gpa, 1));
	} else if (kind == COCO_SEV) {
		puts("coco: SEV, C-bit ");
		put_dec(cbit);
		say(", SEV_STATUS ", rdmsr(0xc0010131));
		say("to private: ", (u64)hypercall3(KVM_HC_MAP_GPA_RANGE, gpa, 1, MAP_GPA_ENCRYPTED));
		page[7] = 0x5eed;
		/* A shared access to a private page: the VMM converts it (content destroyed) and the read goes on. */
		say("implicit shared read: ", shared_view(kind, gpa)[7]);
	} else {
		puts("coco: none\n");
	}
	return 0;
}
