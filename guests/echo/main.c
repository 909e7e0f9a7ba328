/*
 * Console echo: takes COM1's receive interrupts (IRQ 4 through the I/O APIC to the local APIC;
 * one per byte, the FIFO off) with HLT in between, and
 * echoes each byte it receives. 'q' ends it: it prints how many bytes it echoed and exits with
 * status 7 if the bytes came by interrupts (and no spurious one), else 1.
 */
#include "../common/guest.h"
#include "../common/apic.h"

#define COM1 0x3f8
#define UART_VECTOR 0x44
#define SPURIOUS_VECTOR 0xff

static u64 idt[2 * 256] __attribute__((aligned(16)));
extern char uart_entry[], spurious_entry[];
volatile u64 interrupts, spurious;
static volatile u8 received[256];
static volatile u32 head, tail;

static void ioapic_write(u32 reg, u32 v) {
	*(volatile u32 *)IOAPIC = reg;
	*(volatile u32 *)(IOAPIC + 0x10) = v;
}

/* Drains the receive FIFO: reading the RBR clears the data-available and timeout interrupts. */
void on_uart(void) {
	interrupts++;
	while (inb(COM1 + 5) & 0x01)
		received[tail++ & 255] = inb(COM1);
	apic_write(0xb0, 0); /* EOI */
}

int main(void) {
	idt_gate(idt, UART_VECTOR, uart_entry);
	idt_gate(idt, SPURIOUS_VECTOR, spurious_entry);
	idt_load(idt, sizeof idt);
	apic_write(0xf0, 0x100 | SPURIOUS_VECTOR); /* software enable */
	ioapic_write(0x10 + 2 * 4 + 1, 0);         /* pin 4 to APIC 0 */
	ioapic_write(0x10 + 2 * 4, UART_VECTOR);   /* fixed, physical, edge, active high, unmasked */

	outb(COM1 + 1, 0x00); /* IER off while setting up */
	outb(COM1 + 3, 0x80); /* DLAB */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8n1 */
	/*
	 * FIFOs stay off: enabling them clears the receive FIFO (as on a 16550), which would drop
	 * what the VMM fed before this point (a test pipes its input at once). Without the FIFO the
	 * VMM feeds the next byte only when the guest has read the last one, so nothing is lost.
	 */
	outb(COM1 + 2, 0x00);
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (the PC's interrupt enable) */
	outb(COM1 + 1, 0x01); /* received data available (and character timeout) */
	puts("echo: ready, q quits\n");

	u64 echoed = 0;
	for (;;) {
		__asm__ volatile("cli" ::: "memory");
		while (head == tail)
			__asm__ volatile("sti; hlt; cli" ::: "memory"); /* STI's shadow: no interrupt lost before HLT */
		__asm__ volatile("sti" ::: "memory");
		u8 c = received[head++ & 255];
		if (c == 'q')
			break;
		putc((char)c);
		echoed++;
	}
	puts("\necho: ");
	put_dec(echoed);
	puts(" bytes\n");
	return interrupts > 0 && spurious == 0 ? 7 : 1;
}
