/*
 * LAPIC timer: programs the local APIC (xAPIC MMIO at 0xfee00000) for a periodic timer, takes its
 * interrupts with HLT in between (interrupts enabled only around the HLT: sti; hlt), then a
 * one-shot, and prints the counts. Exit status 10 (the periodic interrupts asked for) if all went
 * as the SDM says, else 1.
 */
#include "../common/guest.h"
#include "../common/apic.h"

#define TIMER_VECTOR 0x40
#define SPURIOUS_VECTOR 0xff
#define PERIODIC_TICKS 10

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char timer_entry[], spurious_entry[];
volatile u64 ticks, spurious;

void on_timer(void) {
	ticks++;
	apic_write(0xb0, 0); /* EOI */
}

/*
 * Halts until the timer has fired {@code n} times in all; returns how many HLTs ended without an
 * interrupt having been taken (none should: only an interrupt ends HLT with IF set). More than one
 * interrupt per HLT is fine: a slow CPU may find the next tick pending right after IRET.
 */
static u64 wait_ticks(u64 n) {
	u64 empty = 0;
	while (ticks < n) {
		u64 before = ticks;
		/* STI's shadow: no interrupt between sti and hlt, so none is lost before the HLT. */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		empty += ticks == before;
	}
	return empty;
}

int main(void) {
	idt_gate(idt, TIMER_VECTOR, timer_entry);
	idt_gate(idt, SPURIOUS_VECTOR, spurious_entry);
	idt_load(idt, sizeof idt);

	puts("apic: version ");
	put_hex(apic_read(0x30) & 0xff);
	puts(", id ");
	put_dec(apic_read(0x20) >> 24);
	putc('\n');

	apic_write(0xf0, 0x100 | SPURIOUS_VECTOR); /* software enable */
	apic_write(0x3e0, 0x3);                   /* divide by 16 */
	apic_write(0x320, 0x20000 | TIMER_VECTOR); /* periodic */
	apic_write(0x380, 62500);                 /* 1 ms at a 1 GHz APIC bus */
	/*
	 * Current count falls between two reads, unless the period ended between them and the count
	 * reloaded (a host that deschedules the vCPU for a millisecond): one of three pairs must fall.
	 */
	int down = 0;
	for (int i = 0; i < 3 && !down; i++) {
		u32 c1 = apic_read(0x390), c2 = apic_read(0x390);
		down = c2 <= c1 && c1 <= 62500;
	}
	u64 empty = wait_ticks(PERIODIC_TICKS);
	apic_write(0x320, 0x10000 | TIMER_VECTOR); /* masked, stopped */
	apic_write(0x380, 0);
	__asm__ volatile("sti; nop; cli" ::: "memory"); /* a tick already accepted is taken now */
	u64 periodic = ticks;

	puts("periodic: ");
	put_dec(periodic >= PERIODIC_TICKS ? PERIODIC_TICKS : periodic);
	puts(" interrupts taken, ");
	put_dec(empty);
	puts(" HLTs ended without one");
	puts(down ? ", counting down\n" : ", NOT counting down\n");

	apic_write(0x320, TIMER_VECTOR); /* one-shot */
	apic_write(0x380, 1000);
	empty += wait_ticks(periodic + 1);
	u64 oneshot = ticks - periodic;
	puts("one-shot: ");
	put_dec(oneshot);
	puts(" interrupt, current count ");
	put_dec(apic_read(0x390));
	putc('\n');
	if (periodic < PERIODIC_TICKS || empty != 0 || oneshot != 1)
		return 1;
	return PERIODIC_TICKS;
}
