/*
 * Secondary vCPUs started the standard way, as Linux starts them: vCPU 0 copies a real-mode
 * trampoline (trampoline.S) below 1 MiB and sends each AP INIT, INIT de-assert and two start-up
 * IPIs through its local APIC (xAPIC MMIO, physical destination = the AP's APIC ID). The AP runs
 * 16-bit code, goes through 32-bit protected mode to long mode and into ap_main, which takes a
 * fixed IPI from vCPU 0 (HLT until it comes) and sends one back. vCPU 0 prints what each AP
 * reported. cpus=N on the command line (default 2) is the number of vCPUs. Exit status 0 when
 * every AP came and every IPI arrived once.
 */
#include "../common/guest.h"
#include "../common/pvh.h"
#include "../common/apic.h"
#include "sipi.h"

#define IPI_VECTOR 0x50
#define MAX_CPUS 8

extern char tramp_start[], tramp_end[], ap_entry64[], ipi_entry[];
static u8 ap_stacks[MAX_CPUS][16384] __attribute__((aligned(16)));
static u64 idt[2 * 256] __attribute__((aligned(16)));
static volatile u32 arrived[MAX_CPUS];
static volatile u32 apic_of[MAX_CPUS];
static volatile u64 received[MAX_CPUS];
static u32 rm_cs[MAX_CPUS], rm_sum[MAX_CPUS], rm_int[MAX_CPUS], rm_apic[MAX_CPUS], rm_eax[MAX_CPUS];

static u32 apic_id(void) { return apic_read(0x20) >> 24; }

#define T16(off) (*(volatile u16 *)(TRAMP + (off)))
#define T32(off) (*(volatile u32 *)(TRAMP + (off)))
#define T64(off) (*(volatile u64 *)(TRAMP + (off)))

void on_ipi(void) {
	u32 me = apic_id();
	if (me < MAX_CPUS)
		received[me]++;
	apic_write(0xb0, 0); /* EOI */
}

/* Writes the ICR (destination first) and waits until the APIC has sent it. */
static void icr(u32 dest, u32 low) {
	apic_write(0x310, dest << 24);
	apic_write(0x300, low);
	while (apic_read(0x300) & 0x1000)
		__asm__ volatile("pause");
}

static void setup(void) {
	idt_load(idt, sizeof idt);
	apic_write(0xf0, 0x1ff); /* software enable, spurious vector 0xff */
}

static void wait_received(u32 me, u64 n) {
	while (received[me] < n)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

void ap_main(void) {
	u32 me = apic_id();
	setup();
	apic_of[me] = me;
	__atomic_store_n(&arrived[me], 1, __ATOMIC_RELEASE);
	wait_received(me, 1);
	icr(0, 0x4000 | IPI_VECTOR); /* fixed, edge, to vCPU 0 */
}

/* INIT (assert, then de-assert) and two start-up IPIs, as Linux's wakeup_secondary_cpu_via_init. */
static void start_ap(u32 id) {
	T64(T_STACK) = (u64)&ap_stacks[id][sizeof ap_stacks[id]];
	icr(id, 0xc500); /* INIT, level, assert */
	icr(id, 0x8500); /* INIT, level, de-assert */
	for (int i = 0; i < 2; i++)
		icr(id, 0x600 | (TRAMP >> 12)); /* STARTUP: the AP starts at TRAMP */
	while (!__atomic_load_n(&arrived[id], __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	/* The trampoline page is the next AP's: keep what this one left there. */
	rm_cs[id] = T16(T_RM_CS);
	rm_sum[id] = T16(T_RM_SUM);
	rm_int[id] = T16(T_RM_INT);
	rm_apic[id] = T16(T_RM_APIC);
	rm_eax[id] = T32(T_RM_EAX);
}

int main(const struct hvm_start_info *si) {
	u32 cpus = cmdline_u64(si, "cpus", 2);
	if (cpus < 2 || cpus > MAX_CPUS) {
		puts("sipi: cpus=N must be 2..8\n");
		return 2;
	}
	idt_gate(idt, IPI_VECTOR, ipi_entry);
	setup();
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u8 *t = (u8 *)TRAMP;
	for (u64 i = 0; i < (u64)(tramp_end - tramp_start); i++)
		t[i] = tramp_start[i];
	T32(T_CR3) = (u32)cr3;
	T64(T_ENTRY) = (u64)ap_entry64;
	for (u32 id = 1; id < cpus; id++) {
		T16(T_RM_INT) = 0;
		start_ap(id);
	}
	/* One AP at a time: IPIs of one vector arriving together would merge in vCPU 0's IRR. */
	for (u32 id = 1; id < cpus; id++) {
		icr(id, 0x4000 | IPI_VECTOR);
		wait_received(0, id);
	}
	int bad = 0;
	for (u32 id = 1; id < cpus; id++) {
		while (__atomic_load_n(&received[id], __ATOMIC_ACQUIRE) < 1)
			__asm__ volatile("pause");
		puts("sipi: vCPU ");
		put_dec(id);
		puts(": real mode at cs ");
		put_hex(rm_cs[id]);
		puts(", 16-bit sum ");
		put_hex(rm_sum[id]);
		puts(", 32-bit sum ");
		put_hex(rm_eax[id]);
		puts(", apic id ");
		put_dec(rm_apic[id]);
		puts(rm_int[id] == 0x5a5a ? ", int 0x30 taken" : ", int 0x30 not taken");
		puts("; long mode, apic id ");
		put_dec(apic_of[id]);
		puts(", IPIs received ");
		put_dec(received[id]);
		putc('\n');
		if (rm_cs[id] != TRAMP >> 4 || rm_sum[id] != 0x1234 || rm_eax[id] != 0x23456789 || rm_apic[id] != id
				|| rm_int[id] != 0x5a5a || apic_of[id] != id || received[id] != 1)
			bad = 1;
	}
	puts("sipi: vCPU 0 received ");
	put_dec(received[0]);
	puts(" IPIs\n");
	if (received[0] != cpus - 1)
		bad = 1;
	puts(bad ? "sipi: FAILED\n" : "sipi: ok\n");
	return bad;
}
