/*
 * A third speed guest: multi-precision arithmetic as Linux's lib/mpi does it for the RSA
 * signature checks and self-tests of its boot (about a tenth of a boot's time in the emulator):
 * the generic C mpihelp_mul_1, mpihelp_addmul_1 and mpihelp_submul_1, 64-bit limbs multiplied
 * through four 32x32 products (longlong.h's umul_ppmm without assembly). Every result feeds one
 * checksum, so any wrong instruction changes it.
 */
#include "mpi.h"

typedef unsigned long u64;
typedef long s64;

#define LIMBS 64
#define HALF(x) ((x) & 0xffffffffull)
#define HIGH(x) ((x) >> 32)

/* (hi, lo) = u * v, as Linux's generic umul_ppmm. */
#define umul_ppmm(hi, lo, u, v) do { \
	u64 x0, x1, x2, x3; \
	unsigned int ul = HALF(u), uh = HIGH(u), vl = HALF(v), vh = HIGH(v); \
	x0 = (u64) ul * vl; \
	x1 = (u64) ul * vh; \
	x2 = (u64) uh * vl; \
	x3 = (u64) uh * vh; \
	x1 += HIGH(x0); \
	x1 += x2; \
	if (x1 < x2) \
		x3 += 1ull << 32; \
	(hi) = x3 + HIGH(x1); \
	(lo) = (HALF(x1) << 32) + HALF(x0); \
} while (0)

static u64 mul_1(u64 *res, const u64 *s1, s64 n, u64 limb) {
	u64 cy = 0, hi, lo;
	for (s64 j = 0; j < n; j++) {
		umul_ppmm(hi, lo, s1[j], limb);
		lo += cy;
		cy = (lo < cy) + hi;
		res[j] = lo;
	}
	return cy;
}

/* addmul_1 and submul_1 stay two functions, as in lib/mpi: the guest measures their loops as the kernel has them. */
static u64 addmul_1(u64 *res, const u64 *s1, s64 n, u64 limb) {
	u64 cy = 0, hi, lo, x;
	for (s64 j = 0; j < n; j++) {
		umul_ppmm(hi, lo, s1[j], limb);
		lo += cy;
		cy = (lo < cy) + hi;
		x = res[j];
		lo = x + lo;
		cy += lo < x;
		res[j] = lo;
	}
	return cy;
}

static u64 submul_1(u64 *res, const u64 *s1, s64 n, u64 limb) {
	u64 cy = 0, hi, lo, x;
	for (s64 j = 0; j < n; j++) {
		umul_ppmm(hi, lo, s1[j], limb);
		lo += cy;
		cy = (lo < cy) + hi;
		x = res[j];
		lo = x - lo;
		cy += lo > x;
		res[j] = lo;
	}
	return cy;
}

static u64 a[LIMBS], b[LIMBS], p[LIMBS];

u64 mpi(u64 iterations) {
	u64 s = 0x9e3779b97f4a7c15ull, h = 0;
	for (int i = 0; i < LIMBS; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		a[i] = s;
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = s;
	}
	for (u64 it = 0; it < iterations; it++) {
		u64 limb = b[it % LIMBS] | 1;
		h = (h ^ mul_1(p, a, LIMBS, limb)) * 0x100000001b3ull;
		h = (h ^ addmul_1(a, p, LIMBS, b[(it + 7) % LIMBS])) * 0x100000001b3ull;
		h = (h ^ submul_1(b, a, LIMBS, limb)) * 0x100000001b3ull;
		h ^= a[it % LIMBS] ^ b[(it + 3) % LIMBS];
	}
	return h;
}
