/*
 * Idle: halts for "idle=<seconds>" of the command line (default 10) with nothing to do, woken only
 * by one LAPIC timer one-shot at the end, then exits 0. The benchmark benchmarks/idle-cpu measures
 * the host CPU time a VMM spends while its guest sits in HLT (goal: under 1 % of one core).
 * "wakeups=<n>" splits the time into n one-shots (a guest that wakes now and then, like a tickless
 * kernel's idle loop); every HLT that ends without the timer having fired is counted and printed.
 */
#include "../common/guest.h"
#include "../common/pvh.h"
#include "../common/apic.h"

#define TIMER_VECTOR 0x40
#define SPURIOUS_VECTOR 0xff
/* Divide by 128 of a 1 GHz APIC bus (Cloister's and QEMU's): 7,812,500 counts a second. */
#define COUNTS_PER_SECOND 7812500ul

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char timer_entry[], spurious_entry[];
volatile u64 ticks, spurious;

void on_timer(void) {
	ticks++;
	apic_write(0xb0, 0); /* EOI */
}

int main(const struct hvm_start_info *si) {
	u64 seconds = cmdline_u64(si, "idle", 10);
	u64 wakeups = cmdline_u64(si, "wakeups", 1);
	if (wakeups == 0)
		wakeups = 1;
	u64 counts = seconds * COUNTS_PER_SECOND / wakeups;
	if (counts > 0xfffffffful) {
		puts("idle: period too long for one LAPIC one-shot\n");
		return 1;
	}
	idt_gate(idt, TIMER_VECTOR, timer_entry);
	idt_gate(idt, SPURIOUS_VECTOR, spurious_entry);
	idt_load(idt, sizeof idt);

	apic_write(0xf0, 0x100 | SPURIOUS_VECTOR); /* software enable */
	apic_write(0x3e0, 0xa);                   /* divide by 128 */
	apic_write(0x320, TIMER_VECTOR);          /* one-shot */
	u64 empty = 0;
	/* An initial count of 0 stops the timer: idle=0 does not wait at all. */
	for (u64 i = 0; i < wakeups && counts > 0; i++) {
		apic_write(0x380, (u32)counts);
		u64 before = ticks;
		while (ticks == before) {
			/* STI's shadow: the interrupt cannot come between sti and hlt and be missed. */
			__asm__ volatile("sti; hlt; cli" ::: "memory");
			empty += ticks == before;
		}
	}
	puts("idle: ");
	put_dec(seconds);
	puts(" s in ");
	put_dec(wakeups);
	puts(" one-shots, ");
	put_dec(empty);
	puts(" HLTs ended without the timer\n");
	return 0;
}
