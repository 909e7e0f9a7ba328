/*
 * Timers: the 8254 PIT (channel 0, mode 2, through I/O APIC pin 2 with the 8259s masked) and the
 * local APIC timer (periodic, divide by 1) run together; the guest counts both interrupts
 *  - hlt:  while halting (sti; hlt) until the PIT has fired 50 times;
 *  - spin: while running a loop of a fixed number of instructions;
 * and prints the counts. On deterministic time (vmm --icount, QEMU -icount shift=N,sleep=off) the
 * counts depend only on the instructions retired, so Cloister and QEMU must print the same lines.
 * The periods are chosen so that no count sits at an edge (a tick a few instructions either way
 * does not change it): the spin loop is 3 instructions, so its 4,208,333 rounds last 12.6 ms at
 * 1 ns per instruction and 50.5 ms at 4 ns, halfway between ticks of both timers. Exits 0, or 1 if an interrupt came on a vector it did not program.
 */
#include "../common/guest.h"
#include "../common/pvh.h"
#include "../common/apic.h"

#define LAPIC_VECTOR 0x40
#define PIT_VECTOR 0x42
#define SPURIOUS_VECTOR 0xff
/* 1193 counts of 1.193182 MHz: 999.8 us. */
#define PIT_DIVISOR 1193
/* 3.1 ms at the APIC's 1 GHz: never a whole multiple of the PIT's period. */
#define LAPIC_COUNT 3100000u

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char lapic_entry[], pit_entry[], spurious_entry[];
volatile u64 lapic_ticks, pit_ticks, spurious;

void on_lapic(void) {
	lapic_ticks++;
	apic_write(0xb0, 0);
}

void on_pit(void) {
	pit_ticks++;
	apic_write(0xb0, 0);
}

static void start(void) {
	lapic_ticks = pit_ticks = 0;
	outb(0x43, 0x34); /* channel 0, LSB then MSB, mode 2 (rate generator) */
	outb(0x40, PIT_DIVISOR & 0xff);
	outb(0x40, PIT_DIVISOR >> 8);
	apic_write(0x3e0, 0xb);                   /* divide by 1 */
	apic_write(0x320, 0x20000 | LAPIC_VECTOR); /* periodic */
	apic_write(0x380, LAPIC_COUNT);
}

static void stop(void) {
	apic_write(0x320, 0x10000 | LAPIC_VECTOR); /* masked */
	apic_write(0x380, 0);                      /* and stopped */
	outb(0x43, 0x30);                          /* mode 0 without a count: the counter waits */
}

static void report(const char *phase) {
	puts(phase);
	puts(": pit ");
	put_dec(pit_ticks);
	puts(" lapic ");
	put_dec(lapic_ticks);
	puts("\n");
}

int main(const struct hvm_start_info *si) {
	u64 loops = cmdline_u64(si, "loops", 4208333);
	idt_gate(idt, LAPIC_VECTOR, lapic_entry);
	idt_gate(idt, PIT_VECTOR, pit_entry);
	idt_gate(idt, SPURIOUS_VECTOR, spurious_entry);
	idt_load(idt, sizeof idt);
	outb(0x21, 0xff); /* both 8259s masked: the PIT goes through the I/O APIC */
	outb(0xa1, 0xff);
	apic_write(0xf0, 0x100 | SPURIOUS_VECTOR);
	ioapic_route(2, PIT_VECTOR);

	start();
	while (pit_ticks < 50)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	stop();
	report("hlt");

	start();
	__asm__ volatile("sti" ::: "memory");
	for (u64 i = 0; i < loops; i++)
		__asm__ volatile("" ::: "memory");
	__asm__ volatile("cli" ::: "memory");
	stop();
	report("spin");
	if (spurious) {
		puts("timers: spurious interrupts\n");
		return 1;
	}
	return 0;
}
