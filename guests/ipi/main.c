/*
 * IPIs between two vCPUs through their local APICs (xAPIC MMIO): vCPU 0 starts vCPU 1 with
 * START_VCPU, then they play ping-pong — each fixed IPI (ICR, physical destination) wakes the
 * other from HLT, whose handler counts it and sends one back — for rounds=N (default 200) round
 * trips. Then a broadcast to all-excluding-self and an NMI-free self IPI. Exit status 0 when every
 * IPI arrived exactly once.
 */
#include "../common/guest.h"
#include "../common/pvh.h"
#include "../common/apic.h"

#define IPI_VECTOR 0x50

extern char ap_start32[], ipi_entry[];
u64 ap_cr3;                                  /* read by ap.S */
u8 ap_stacks[2][16384] __attribute__((aligned(16)));
static u64 idt[2 * 256] __attribute__((aligned(16)));
static volatile u32 ready;
static volatile u64 received[2];

static u32 apic_id(void) { return apic_read(0x20) >> 24; }

void on_ipi(void) {
	received[apic_id() & 1]++;
	apic_write(0xb0, 0); /* EOI */
}

/* Fixed IPI, edge, physical destination; the delivery status bit must read idle afterwards. */
static void send_ipi(u32 dest, u32 shorthand) {
	apic_write(0x310, dest << 24);
	apic_write(0x300, shorthand << 18 | 0x4000 | IPI_VECTOR);
	while (apic_read(0x300) & 0x1000)
		__asm__ volatile("pause");
}

/* HLT (interrupts on only around it) until this vCPU has received n IPIs in all. */
static void wait_received(u32 me, u64 n) {
	while (received[me] < n)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void setup(void) {
	idt_load(idt, sizeof idt);
	apic_write(0xf0, 0x1ff); /* software enable, spurious vector 0xff */
}

static u64 rounds = 200;

void ap_main(u32 id) {
	setup();
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	for (u64 i = 1; i <= rounds; i++) {
		wait_received(1, i);
		send_ipi(0, 0);
	}
	wait_received(1, rounds + 1); /* the broadcast */
	__asm__ volatile("cli; hlt");
}

int main(const struct hvm_start_info *si) {
	rounds = cmdline_u64(si, "rounds", rounds);
	idt_gate(idt, IPI_VECTOR, ipi_entry);
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	ap_cr3 = cr3;
	setup();
	if (hypercall3(HC_START_VCPU, 1, (u64)ap_start32, 1) != 0) {
		puts("ipi: no second vCPU\n");
		return 2;
	}
	while (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	for (u64 i = 1; i <= rounds; i++) {
		send_ipi(1, 0);
		wait_received(0, i);
	}
	puts("ipi: ");
	put_dec(received[0]);
	puts(" round trips\n");
	send_ipi(0, 3); /* all excluding self: vCPU 1 only */
	send_ipi(0, 1); /* self */
	wait_received(0, rounds + 1);
	while (received[1] < rounds + 1)
		__asm__ volatile("pause");
	puts("ipi: broadcast and self IPI arrived; received ");
	put_dec(received[0]);
	puts(" and ");
	put_dec(received[1]);
	putc('\n');
	return received[0] == rounds + 1 && received[1] == rounds + 1 ? 0 : 1;
}
