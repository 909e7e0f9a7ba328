/*
 * The local APIC (xAPIC MMIO at 0xfee00000), the I/O APIC at 0xfec00000 and IDT gates, as the
 * interrupt-taking guests use them.
 */
#ifndef APIC_H
#define APIC_H
#include "guest.h"

#define APIC 0xfee00000ul
#define IOAPIC 0xfec00000ul

static inline u32 apic_read(u32 reg) { return *(volatile u32 *)(APIC + reg); }
static inline void apic_write(u32 reg, u32 v) { *(volatile u32 *)(APIC + reg) = v; }

/* Pin to vector: fixed, physical, edge, active high, unmasked, to APIC 0. */
static inline void ioapic_route(int pin, int vector) {
	*(volatile u32 *)IOAPIC = 0x10 + 2 * pin;
	*(volatile u32 *)(IOAPIC + 0x10) = vector;
	*(volatile u32 *)IOAPIC = 0x11 + 2 * pin;
	*(volatile u32 *)(IOAPIC + 0x10) = 0;
}

/* A 64-bit interrupt gate (DPL 0, present) for vector vec in idt, to handler in the current CS. */
static inline void idt_gate(u64 *idt, int vec, char *handler) {
	u64 h = (u64)handler;
	u16 cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	idt[2 * vec] = (h & 0xffff) | ((u64)cs << 16) | (0x8eul << 40) | ((h >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = h >> 32;
}

static inline void idt_load(u64 *idt, u16 bytes) {
	struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {bytes - 1, (u64)idt};
	__asm__ volatile("lidt %0" : : "m"(idtr));
}
#endif
