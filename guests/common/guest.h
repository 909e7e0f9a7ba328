/* Freestanding helpers shared by the test guests: serial console, exit, hypercalls. */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef long s64;

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }

void putc(char c);
void puts(const char *s);
void put_hex(u64 v);
void put_dec(u64 v);
void guest_exit(int code) __attribute__((noreturn));

/* KVM hypercall ABI: nr in rax, arguments in rbx, rcx, rdx, rsi; result in rax. */
static inline s64 hypercall3(u64 nr, u64 a0, u64 a1, u64 a2) {
	s64 ret;
	__asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "b"(a0), "c"(a1), "d"(a2) : "memory");
	return ret;
}
#define KVM_HC_MAP_GPA_RANGE 12
/* Cloister: start vCPU a0 at 32-bit entry a1 (paging off) with %ebx = a2; 0, -EINVAL (no such vCPU) or -EEXIST. */
#define HC_START_VCPU 0x434c0001UL
#define MAP_GPA_ENCRYPTED (1 << 4)

#endif
