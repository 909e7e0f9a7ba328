/*
 * A second speed guest, unlike the workload's arithmetic: pointer chasing through a random
 * single cycle of nodes (a load feeds the next load's address), calls (recursion, and indirect
 * calls through a table of functions), and byte loops (copy, search, histogram, run-length
 * coding). Every part feeds one checksum, so any wrong instruction changes the result.
 */
#include "chase.h"

typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;
typedef long s64;

#define NODES 16384
#define BYTES 4096

struct node {
	u32 next;
	u32 value;
};

static struct node nodes[NODES];
static u8 buf[BYTES], copy[BYTES], coded[2 * BYTES + 2];

static u32 lcg(u32 *s) {
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Sattolo's shuffle: the nodes form one cycle through all of them, in random order. */
static void link_nodes(u32 *seed) {
	for (u32 i = 0; i < NODES; i++) {
		nodes[i].next = i;
		nodes[i].value = lcg(seed);
	}
	for (u32 i = NODES - 1; i > 0; i--) {
		u32 j = lcg(seed) % i;
		u32 t = nodes[i].next;
		nodes[i].next = nodes[j].next;
		nodes[j].next = t;
	}
}

static u64 chase_part(u32 start, u32 steps) {
	u64 h = 0;
	u32 at = start % NODES;
	for (u32 i = 0; i < steps; i++) {
		h = (h ^ nodes[at].value) * 0x100000001b3ull;
		at = nodes[at].next;
	}
	return h ^ at;
}

/* Calls: a recursive walk of an implicit binary tree, and operations picked from a table. */
static u64 tree(u32 depth, u64 x) {
	if (depth == 0)
		return x * 2654435761u >> 7;
	return tree(depth - 1, x * 2 + 1) + (tree(depth - 1, x * 2) ^ depth);
}

static u64 op_add(u64 a, u64 b) { return a + b; }
static u64 op_xor(u64 a, u64 b) { return a ^ (b << 3); }
static u64 op_mix(u64 a, u64 b) { return (a << 7 | a >> 57) - b; }
static u64 op_min(u64 a, u64 b) { return a < b ? a : b + 1; }
static u64 (*const ops[4])(u64, u64) = {op_add, op_xor, op_mix, op_min};

static u64 calls_part(u32 *seed) {
	u64 h = tree(10, lcg(seed));
	for (int i = 0; i < 512; i++) {
		u32 r = lcg(seed);
		h = ops[r & 3](h, r);
	}
	return h;
}

/* Byte loops, written so the compiler keeps them byte loops (no library calls here). */
static u64 bytes_part(u32 *seed) {
	for (int i = 0; i < BYTES; i++) {
		u32 r = lcg(seed);
		buf[i] = (u8)((r & 0x300) ? 'a' + (r & 7) : ' '); /* runs of equal bytes are common */
	}
	volatile u8 key = (u8)lcg(seed);
	for (int i = 0; i < BYTES; i++)
		copy[BYTES - 1 - i] = buf[i] ^ key;
	u64 hist[256] = {0};
	for (int i = 0; i < BYTES; i++)
		hist[copy[i]]++;
	int n = 0;
	for (int i = 0; i < BYTES;) {
		u8 c = buf[i];
		int run = 1;
		while (i + run < BYTES && buf[i + run] == c && run < 255)
			run++;
		coded[n++] = (u8)run;
		coded[n++] = c;
		i += run;
	}
	u64 words = 0;
	for (int i = 1; i < BYTES; i++)
		words += buf[i - 1] == ' ' && buf[i] != ' ';
	u64 h = (u64)n * 131 + words;
	for (int i = 0; i < 256; i++)
		h = h * 31 + hist[i];
	for (int i = 0; i < n; i++)
		h = (h << 1 | h >> 63) ^ coded[i];
	return h;
}

unsigned long chase(unsigned long iterations) {
	u32 seed = 7;
	link_nodes(&seed);
	u64 h = 0;
	for (u64 it = 0; it < iterations; it++) {
		h ^= chase_part(lcg(&seed), 20000);
		h = h * 3 + calls_part(&seed);
		h = h * 5 + bytes_part(&seed);
	}
	return h;
}
