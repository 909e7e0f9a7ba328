/*
 * Several vCPUs over one memory (iterations=N on the command line, default 20000). vCPU 0 starts the others with START_VCPU until the VMM says
 * there are no more; each counts with LOCK ADD, increments a plain counter under a spinlock
 * (XCHG to take it, a plain store to release it), checks its APIC ID and does private work.
 * Lost updates or a broken lock show in the totals. Exit status 0 when everything adds up.
 */
#include "../common/guest.h"
#include "../common/pvh.h"

#define MAX_VCPUS 8

extern char ap_start32[];
u64 ap_cr3;                                           /* read by ap.S */
u8 ap_stacks[MAX_VCPUS][16384] __attribute__((aligned(16)));

static u64 iterations = 20000;                       /* iterations=N on the command line */
static volatile u32 lock;
static volatile u64 counter;
static volatile u64 guarded;
static volatile u32 arrived;
static volatile u32 apic_of[MAX_VCPUS];
static volatile u64 sums[MAX_VCPUS];

static u32 apic_id(void) {
	u32 a = 1, b, c = 0, d;
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static void spin_lock(volatile u32 *l) {
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		while (*l)
			__asm__ volatile("pause");
}

static void spin_unlock(volatile u32 *l) {
	__atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

static void work(u32 id) {
	apic_of[id] = apic_id();
	u64 s = 0;
	for (u64 i = 0; i < iterations; i++) {
		__atomic_fetch_add(&counter, 1, __ATOMIC_SEQ_CST);
		spin_lock(&lock);
		guarded = guarded + 1;
		spin_unlock(&lock);
		s += i * (id + 1);
	}
	sums[id] = s;
	__atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
}

void ap_main(u32 id) {
	work(id);
}

int main(const struct hvm_start_info *si) {
	iterations = cmdline_u64(si, "iterations", iterations);
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	ap_cr3 = cr3;
	u32 n = 1;
	while (n < MAX_VCPUS && hypercall3(HC_START_VCPU, n, (u64)ap_start32, n) == 0)
		n++;
	puts("smp: ");
	put_dec(n);
	puts(n == 1 ? " vCPU\n" : " vCPUs\n");
	work(0);
	while (__atomic_load_n(&arrived, __ATOMIC_ACQUIRE) < n)
		__asm__ volatile("pause");
	int bad = 0;
	for (u32 i = 0; i < n; i++) {
		if (apic_of[i] != i || sums[i] != (u64)(i + 1) * iterations * (iterations - 1) / 2) {
			puts("smp: vCPU ");
			put_dec(i);
			puts(" reported APIC ID ");
			put_dec(apic_of[i]);
			puts(" or a wrong sum\n");
			bad = 1;
		}
	}
	puts("smp: locked adds ");
	put_dec(counter);
	puts(", increments under the lock ");
	put_dec(guarded);
	puts(" (want ");
	put_dec(n * iterations);
	puts(")\n");
	if (counter != n * iterations || guarded != n * iterations)
		bad = 1;
	puts(bad ? "smp: FAILED\n" : "smp: ok\n");
	return bad;
}
