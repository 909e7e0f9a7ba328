#include "guest.h"

#define COM1 0x3f8

void putc(char c) {
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (u8)c);
}

void puts(const char *s) {
	while (*s)
		putc(*s++);
}

void put_hex(u64 v) {
	static const char digits[] = "0123456789abcdef";
	puts("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		putc(digits[(v >> shift) & 0xf]);
}

void put_dec(u64 v) {
	char buf[24];
	int i = 0;
	do {
		buf[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		putc(buf[--i]);
}

/* isa-debug-exit: the VMM (or QEMU) exits with status (code << 1) | 1. */
void guest_exit(int code) {
	outb(0xf4, (u8)code);
	for (;;)
		__asm__ volatile("hlt");
}
