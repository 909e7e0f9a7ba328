/*
 * Interrupt latency, measured by the guest on its local APIC's timer counting down at 1 GHz (the
 * APIC bus of Cloister and of QEMU; divide by 1, masked, so one count is one nanosecond):
 *  - thre: a device raises its line while the vCPU runs: enabling the 16550's THRE interrupt
 *    (IER bit 1) with an empty transmitter raises IRQ 4 at once; from the OUT to the handler.
 *  - pit-hlt: a timer raises its line while the vCPU halts: the 8254's channel 0 in mode 0 fires
 *    IRQ 0 after N counts of 1.193182 MHz; from the expiry (programmed time + N counts) to the
 *    handler, the vCPU in HLT.
 *  - pit-spin: the same with the vCPU spinning (a timer thread must make a running vCPU look).
 * Both lines reach the vCPU through the I/O APIC (IRQ 0 on pin 2, IRQ 4 on pin 4; the 8259s
 * masked). First the cost of one clock read (clock-read), a floor under the others.
 * "samples=<n>" (default 200) per kind; prints the median, 90th percentile and maximum in
 * nanoseconds, exits 0 (1 if an interrupt did not come within 1 s).
 */
#include "../common/guest.h"
#include "../common/pvh.h"
#include "../common/apic.h"

#define SPURIOUS_VECTOR 0xff
#define PIT_VECTOR 0x42
#define UART_VECTOR 0x44
#define COM1 0x3f8
#define MAX_SAMPLES 1000
/* PIT counts before channel 0 fires: about 100 us. */
#define PIT_COUNT 120

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char pit_entry[], uart_entry[], spurious_entry[];
volatile u64 spurious;
volatile u32 handled_at;
volatile int fired;
static u32 samples[MAX_SAMPLES];

/* Nanoseconds since the free-running timer was started (it counts down from 0xffffffff). */
static inline u32 now(void) { return 0xffffffffu - apic_read(0x390); }

static void start_clock(void) {
	apic_write(0x3e0, 0xb);                 /* divide by 1 */
	apic_write(0x320, 0x10000 | 0x40);      /* masked one-shot: only its count is used */
	apic_write(0x380, 0xffffffffu);
}

void on_pit(void) {
	handled_at = now();
	fired = 1;
	apic_write(0xb0, 0);
}

void on_uart(void) {
	handled_at = now();
	inb(COM1 + 2);      /* IIR: reading it clears the THRE interrupt */
	outb(COM1 + 1, 0);  /* IER: no more interrupts */
	fired = 1;
	apic_write(0xb0, 0);
}

/* Waits for the handler with interrupts enabled, halting or spinning; 0 if it did not come. */
static int wait_fired(int halt, u32 since) {
	int ok = 1;
	if (!halt)
		__asm__ volatile("sti" ::: "memory");
	while (!fired) {
		if (halt)
			__asm__ volatile("sti; hlt; cli" ::: "memory");
		else
			__asm__ volatile("pause" ::: "memory");
		if (now() - since > 1000000000u) { /* 1 s: lost (a loaded host can be late by many ms) */
			ok = 0;
			break;
		}
	}
	__asm__ volatile("cli" ::: "memory");
	return ok;
}

static void report(const char *name, u32 *s, u64 n) {
	for (u64 i = 1; i < n; i++) { /* insertion sort: n is small */
		u32 v = s[i];
		u64 j = i;
		for (; j > 0 && s[j - 1] > v; j--)
			s[j] = s[j - 1];
		s[j] = v;
	}
	puts(name);
	puts(": median ");
	put_dec(s[n / 2]);
	puts(" ns, p90 ");
	put_dec(s[n * 9 / 10]);
	puts(" ns, max ");
	put_dec(s[n - 1]);
	puts(" ns\n");
}

static int measure_thre(u64 n) {
	for (u64 i = 0; i < n; i++) {
		fired = 0;
		__asm__ volatile("sti" ::: "memory");
		u32 t0 = now();
		outb(COM1 + 1, 0x02); /* IER: THRE */
		if (!wait_fired(0, t0))
			return 0;
		samples[i] = handled_at - t0;
	}
	report("thre", samples, n);
	return 1;
}

static int measure_pit(const char *name, int halt, u64 n) {
	/* Expiry: the count starts with the MSB written; N counts of 838.095 ns. */
	u32 delay = (u32)((u64)PIT_COUNT * 1000000000ul / 1193182);
	for (u64 i = 0; i < n; i++) {
		fired = 0;
		outb(0x43, 0x30);                /* channel 0, LSB then MSB, mode 0 */
		outb(0x40, PIT_COUNT & 0xff);
		u32 t0 = now();
		outb(0x40, PIT_COUNT >> 8);
		if (!wait_fired(halt, t0))
			return 0;
		u32 late = handled_at - t0;
		samples[i] = late > delay ? late - delay : 0;
	}
	report(name, samples, n);
	return 1;
}

int main(const struct hvm_start_info *si) {
	u64 n = cmdline_u64(si, "samples", 200);
	if (n == 0 || n > MAX_SAMPLES)
		n = 200;
	idt_gate(idt, PIT_VECTOR, pit_entry);
	idt_gate(idt, UART_VECTOR, uart_entry);
	idt_gate(idt, SPURIOUS_VECTOR, spurious_entry);
	idt_load(idt, sizeof idt);

	outb(0x21, 0xff); /* both 8259s masked: the lines go through the I/O APIC */
	outb(0xa1, 0xff);
	apic_write(0xf0, 0x100 | SPURIOUS_VECTOR);
	start_clock();
	ioapic_route(2, PIT_VECTOR);
	ioapic_route(4, UART_VECTOR);
	outb(COM1 + 4, 0x08); /* MCR: OUT2, which gates the UART's interrupt on a PC */

	/* What one reading of the clock costs: a floor under every number below. */
	for (u64 i = 0; i < n; i++) {
		u32 a = now();
		samples[i] = now() - a;
	}
	report("clock-read", samples, n);
	int ok = measure_thre(n) && measure_pit("pit-hlt", 1, n) && measure_pit("pit-spin", 0, n);
	if (!ok)
		puts("irqlatency: an interrupt did not come within 1 s\n");
	return ok ? 0 : 1;
}
