/*
 * Idle: halts for "idle=<seconds>" of the command line (default 10) with nothing to do, woken only
 * by one LAPIC timer one-shot at the end, then exits 0. The benchmark benchmarks/idle-cpu measures
 * the host CPU time a VMM spends while its guest sits in HLT (goal: under 1 % of one core).
 * "wakeups=<n>" splits the time into n one-shots (a guest that wakes now and then, like a tickless
 * kernel's idle loop); every HLT that ends without the timer having fired is counted and printed.
 */
#include "../common/guest.h"
#include "../common/pvh.h"

#define APIC 0xfee00000ul
#define TIMER_VECTOR 0x40
#define SPURIOUS_VECTOR 0xff
/* Divide by 128 of a 1 GHz APIC bus (Cloister's and QEMU's): 7,812,500 counts a second. */
#define COUNTS_PER_SECOND 7812500ul

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char timer_entry[], spurious_entry[];
volatile u64 ticks, spurious;

static inline u32 apic_read(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void apic_write(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }

void on_timer(void) {
	ticks++;
	apic_write(0xb0, 0); /* EOI */
}

static void set_gate(int vec, char *handler) {
	u64 h = (u64)handler;
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[2 * vec] = (h & 0xffff) | ((u64)cs << 16) | (0x8eul << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = h >> 32;
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
	set_gate(TIMER_VECTOR, timer_entry);
	set_gate(SPURIOUS_VECTOR, spurious_entry);
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));

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
