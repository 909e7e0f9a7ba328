/* Confidential-computing helpers for the guests: which technology, and its own instructions. */
#ifndef COCO_H
#define COCO_H
#include "guest.h"

enum coco { COCO_NONE, COCO_SEV, COCO_SNP, COCO_TDX };

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d) {
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* TDX: CPUID 0x21 says "IntelTDX    "; SEV/SNP: CPUID 0x8000001F bits 1 and 4. */
static inline enum coco coco_kind(u32 *cbit) {
	u32 a, b, c, d;
	cpuid(0, &a, &b, &c, &d);
	if (a >= 0x21) {
		cpuid(0x21, &a, &b, &c, &d);
		if (b == 0x65746e49 && d == 0x5844546c && c == 0x20202020)
			return COCO_TDX;
	}
	cpuid(0x80000000, &a, &b, &c, &d);
	if (a >= 0x8000001f) {
		cpuid(0x8000001f, &a, &b, &c, &d);
		*cbit = b & 63;
		if (a & (1 << 4))
			return COCO_SNP;
		if (a & (1 << 1))
			return COCO_SEV;
	}
	return COCO_NONE;
}

/* TDG.MEM.PAGE.ACCEPT: returns the TDX status (rax). */
static inline u64 td_accept(u64 gpa) {
	u64 rax = 6;
	__asm__ volatile(".byte 0x66, 0x0f, 0x01, 0xcc" : "+a"(rax) : "c"(gpa) : "memory");
	return rax;
}

/* PVALIDATE: returns eax (0 = success). */
static inline u32 pvalidate(u64 va, int validate) {
	u32 rc;
	__asm__ volatile(".byte 0xf2, 0x0f, 0x01, 0xff" : "=a"(rc) : "a"(va), "c"(0), "d"(validate) : "memory", "cc");
	return rc;
}

extern u32 cbit_high;

static u64 alias_pd[512] __attribute__((aligned(4096)));
static u64 alias_pt[512] __attribute__((aligned(4096)));

/*
 * A mapping through which the guest reaches a page as shared: at 5 GiB, a 4 KiB page without
 * the C-bit (SEV/SNP) or at the GPA with the shared bit 47 (TDX). Elsewhere the page itself.
 */
static inline volatile u64 *shared_view(enum coco kind, u64 gpa) {
	if (kind == COCO_NONE)
		return (volatile u64 *)gpa;
	u64 cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	u64 *pml4 = (u64 *)(cr3 & 0xfffff000ul);
	u64 *pdpt = (u64 *)(pml4[0] & 0xfffff000ul);
	u64 cbit = (u64)cbit_high << 32;
	alias_pt[0] = (gpa & ~0xffful) | (kind == COCO_TDX ? 1ul << 47 : 0) | 0x3;
	alias_pd[0] = (u64)alias_pt | cbit | 0x3;
	pdpt[5] = (u64)alias_pd | cbit | 0x3;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
	return (volatile u64 *)0x140000000ul;
}

/* After a page became private again: SNP validates it, TDX accepts it, before touching it. */
static inline void coco_take_back(enum coco kind, u64 gpa) {
	if (kind == COCO_SNP)
		pvalidate(gpa, 1);
	else if (kind == COCO_TDX)
		td_accept(gpa);
}
#endif
