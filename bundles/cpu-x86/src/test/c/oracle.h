/*
 * What the host-CPU oracles (alu_oracle.c, simd_oracle.c) share: the register state an
 * instruction template runs on, the arithmetic flags, and the xorshift generator their random
 * operands come from (seeded from the command line, so a run can be repeated).
 */
#ifndef ORACLE_H
#define ORACLE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef uint64_t u64;
struct st { u64 rax, rbx, rcx, rdx, flags; };

#define CF 0x001
#define PF 0x004
#define AF 0x010
#define ZF 0x040
#define SF 0x080
#define OF 0x800
#define ALL (CF | PF | AF | ZF | SF | OF)

static u64 rnd_state;
static u64 rnd(void) {
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}
#endif
