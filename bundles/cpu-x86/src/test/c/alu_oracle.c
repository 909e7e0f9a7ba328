/*
 * The host CPU as oracle for the emulator's integer instructions. For each instruction template
 * and random operands it runs the instruction natively and prints one line:
 *   name code_hex rax rbx rcx rdx flags_in  rax' rbx' rcx' rdx' flags_out  flag_mask reg_mask
 * flag_mask holds the flags the architecture defines for that case; reg_mask which of
 * rax..rdx to compare (bit 0 = rax). The Java test replays each line on the emulator.
 * Build: gcc -O1 -mno-red-zone -o alu_oracle alu_oracle.c ; run: alu_oracle CASES SEED
 */
#include "oracle.h"


#define DEF(name, insn)                                                                            \
	extern const unsigned char name##_start[], name##_end[];                                   \
	__attribute__((noinline)) static void t_##name(struct st *s) {                             \
		__asm__ volatile("push %[f]\n\tpopfq\n\t.globl " #name "_start\n" #name "_start:\n\t" insn \
				 "\n\t.globl " #name "_end\n" #name "_end:\n\tpushfq\n\tpop %[f]"            \
				 : "+a"(s->rax), "+b"(s->rbx), "+c"(s->rcx), "+d"(s->rdx), [f] "+r"(s->flags) \
				 :                                                                          \
				 : "cc", "memory");                                                         \
	}

/* ALU, all sizes */
#define ALU4(op)                                                                                   \
	DEF(op##8, #op "b %%bl, %%al") DEF(op##16, #op "w %%bx, %%ax") DEF(op##32, #op "l %%ebx, %%eax")  \
	DEF(op##64, #op "q %%rbx, %%rax")
ALU4(add) ALU4(adc) ALU4(sub) ALU4(sbb) ALU4(and) ALU4(or) ALU4(xor) ALU4(cmp) ALU4(test)
#define UN4(op)                                                                                    \
	DEF(op##8, #op "b %%al") DEF(op##16, #op "w %%ax") DEF(op##32, #op "l %%eax") DEF(op##64, #op "q %%rax")
UN4(inc) UN4(dec) UN4(neg) UN4(not)
#define SH4(op)                                                                                    \
	DEF(op##8, #op "b %%cl, %%al") DEF(op##16, #op "w %%cl, %%ax") DEF(op##32, #op "l %%cl, %%eax")   \
	DEF(op##64, #op "q %%cl, %%rax")
SH4(shl) SH4(shr) SH4(sar) SH4(rol) SH4(ror) SH4(rcl) SH4(rcr)
DEF(mul8, "mulb %%bl") DEF(mul16, "mulw %%bx") DEF(mul32, "mull %%ebx") DEF(mul64, "mulq %%rbx")
DEF(imul1_32, "imull %%ebx") DEF(imul1_64, "imulq %%rbx")
DEF(imul2_16, "imulw %%bx, %%ax") DEF(imul2_32, "imull %%ebx, %%eax") DEF(imul2_64, "imulq %%rbx, %%rax")
DEF(imul3_32, "imull $-12345, %%ebx, %%eax") DEF(imul3_64, "imulq $77, %%rbx, %%rax")
DEF(bsf32, "bsfl %%ebx, %%eax") DEF(bsf64, "bsfq %%rbx, %%rax") DEF(bsr32, "bsrl %%ebx, %%eax") DEF(bsr64, "bsrq %%rbx, %%rax")
DEF(popcnt32, "popcntl %%ebx, %%eax") DEF(popcnt64, "popcntq %%rbx, %%rax")
DEF(lzcnt32, "lzcntl %%ebx, %%eax") DEF(lzcnt64, "lzcntq %%rbx, %%rax")
DEF(bt64, "btq %%rcx, %%rax") DEF(bts64, "btsq %%rcx, %%rax") DEF(btr32, "btrl %%ecx, %%eax") DEF(btc64, "btcq %%rcx, %%rax")
DEF(btsimm, "btsq $45, %%rax")
DEF(shld32, "shldl %%cl, %%ebx, %%eax") DEF(shld64, "shldq %%cl, %%rbx, %%rax")
DEF(shrd32, "shrdl %%cl, %%ebx, %%eax") DEF(shrd64, "shrdq %%cl, %%rbx, %%rax")
DEF(bswap32, "bswapl %%eax") DEF(bswap64, "bswapq %%rax")
DEF(xadd64, "xaddq %%rbx, %%rax") DEF(cmpxchg64, "cmpxchgq %%rcx, %%rbx")
DEF(movsx8, "movsbq %%bl, %%rax") DEF(movzx16, "movzwl %%bx, %%eax") DEF(movsxd, "movslq %%ebx, %%rax")
DEF(cqo, "cqto") DEF(cdq, "cltd") DEF(cwde, "cwtl")
DEF(setl, "setl %%al") DEF(setbe, "setbe %%al") DEF(setg, "setg %%al") DEF(setp, "setp %%al")
DEF(cmovle32, "cmovlel %%ebx, %%eax") DEF(cmova64, "cmovaq %%rbx, %%rax") DEF(cmovs32, "cmovsl %%ebx, %%eax")
DEF(lea, "leaq 0x1234(%%rbx,%%rcx,4), %%rax") DEF(leal, "leal -8(%%rbx,%%rcx,8), %%eax")
DEF(div32, "divl %%ebx") DEF(idiv64, "idivq %%rbx")
DEF(shlimm, "shlq $7, %%rax") DEF(sarimm, "sarl $31, %%eax") DEF(rolimm, "rolw $3, %%ax")
DEF(adcimm, "adcl $0x7fffffff, %%eax") DEF(sbbimm8, "sbbq $-1, %%rax") DEF(andimm, "andl $0xff00ff, %%eax")
DEF(xchg, "xchgq %%rbx, %%rax") DEF(cmc, "cmc") DEF(lahf, "lahf") DEF(sahf, "sahf")
/*
 * Short sequences, compiled as one block: a carry or condition taken from the block's own record
 * of the last flag-setting instruction, and byte registers (AH..BH without REX, SIL with it)
 * written and read inline.
 */
DEF(seq_cmp_adc64, "cmpq %%rbx, %%rax\n\tadcq %%rcx, %%rdx\n\taddq $0, %%rbx")
DEF(seq_add_adc32, "addl %%ebx, %%eax\n\tadcl %%ecx, %%edx\n\taddl $1, %%ecx")
DEF(seq_sub_sbb64, "subq %%rbx, %%rax\n\tsbbq %%rcx, %%rdx\n\taddq $0, %%rbx")
DEF(seq_test_adc64, "testq %%rbx, %%rax\n\tadcq %%rcx, %%rdx\n\taddq $0, %%rbx")
DEF(seq_setcc_high8, "cmpq %%rcx, %%rbx\n\tsetb %%ah\n\tsetl %%bh\n\tmovzbl %%bh, %%ecx\n\tmovb %%dl, %%ch\n\tmovb %%ah, %%dh")
DEF(seq_rex8, "xchgq %%rbx, %%rsi\n\tmovb %%al, %%sil\n\tmovzbl %%sil, %%ecx\n\txchgq %%rbx, %%rsi")
DEF(seq_cmov16, "cmpq %%rcx, %%rdx\n\tcmovbw %%bx, %%ax\n\tcmovael %%ebx, %%ecx")
DEF(seq_cmov32, "cmpq %%rcx, %%rdx\n\tcmovbl %%ebx, %%eax\n\tcmovlq %%rbx, %%rcx")

/* LOOPcc and JrCXZ to the next instruction: taken or not, only rcx changes, never the flags */
DEF(loop, "loop 1f\n1:") DEF(loope, "loope 1f\n1:") DEF(loopne, "loopne 1f\n1:") DEF(loop32, "addr32 loop 1f\n1:")
DEF(jrcxz, "jrcxz 1f\n1:") DEF(jecxz, "jecxz 1f\n1:")

/* Operands with more edge cases than uniform random values give. */
static u64 operand(void) {
	switch (rnd() % 8) {
	case 0: return 0;
	case 1: return rnd() % 4;
	case 2: return ~0ul - rnd() % 3;
	case 3: return 1ul << (rnd() % 64);
	case 4: return 0x8000000000000000ul >> (rnd() % 3 * 8);
	case 5: return (u64)(int8_t)rnd();
	default: return rnd();
	}
}

struct tmpl {
	const char *name;
	void (*fn)(struct st *);
	const unsigned char *start, *end;
	int kind;
};

enum { K_ALU, K_LOGIC, K_INCDEC, K_NOT, K_SHIFT, K_ROT, K_RC, K_MUL, K_BSF, K_CNT, K_LZ, K_BT, K_DSH, K_NOFLAGS,
       K_DIV, K_SET, K_FLAGS };

#define T(n, k) {#n, t_##n, n##_start, n##_end, k}
#define T4(p, k) T(p##8, k), T(p##16, k), T(p##32, k), T(p##64, k)
static const struct tmpl tmpls[] = {
	T4(add, K_ALU), T4(adc, K_ALU), T4(sub, K_ALU), T4(sbb, K_ALU), T4(cmp, K_ALU),
	T4(and, K_LOGIC), T4(or, K_LOGIC), T4(xor, K_LOGIC), T4(test, K_LOGIC),
	T4(inc, K_INCDEC), T4(dec, K_INCDEC), T4(neg, K_ALU), T4(not, K_NOT),
	T4(shl, K_SHIFT), T4(shr, K_SHIFT), T4(sar, K_SHIFT), T4(rol, K_ROT), T4(ror, K_ROT), T4(rcl, K_RC), T4(rcr, K_RC),
	T(mul8, K_MUL), T(mul16, K_MUL), T(mul32, K_MUL), T(mul64, K_MUL), T(imul1_32, K_MUL), T(imul1_64, K_MUL),
	T(imul2_16, K_MUL), T(imul2_32, K_MUL), T(imul2_64, K_MUL), T(imul3_32, K_MUL), T(imul3_64, K_MUL),
	T(bsf32, K_BSF), T(bsf64, K_BSF), T(bsr32, K_BSF), T(bsr64, K_BSF), T(popcnt32, K_CNT), T(popcnt64, K_CNT),
	T(lzcnt32, K_LZ), T(lzcnt64, K_LZ), T(bt64, K_BT), T(bts64, K_BT), T(btr32, K_BT), T(btc64, K_BT), T(btsimm, K_BT),
	T(shld32, K_DSH), T(shld64, K_DSH), T(shrd32, K_DSH), T(shrd64, K_DSH),
	T(bswap32, K_NOFLAGS), T(bswap64, K_NOFLAGS), T(xadd64, K_ALU), T(cmpxchg64, K_ALU),
	T(movsx8, K_NOFLAGS), T(movzx16, K_NOFLAGS), T(movsxd, K_NOFLAGS), T(cqo, K_NOFLAGS), T(cdq, K_NOFLAGS),
	T(cwde, K_NOFLAGS), T(setl, K_SET), T(setbe, K_SET), T(setg, K_SET), T(setp, K_SET), T(cmovle32, K_SET),
	T(cmova64, K_SET), T(cmovs32, K_SET), T(lea, K_NOFLAGS), T(leal, K_NOFLAGS), T(div32, K_DIV), T(idiv64, K_DIV),
	T(shlimm, K_SHIFT), T(sarimm, K_SHIFT), T(rolimm, K_ROT), T(adcimm, K_ALU), T(sbbimm8, K_ALU), T(andimm, K_LOGIC),
	T(xchg, K_NOFLAGS), T(cmc, K_FLAGS), T(lahf, K_FLAGS), T(sahf, K_FLAGS),
	T(seq_cmp_adc64, K_ALU), T(seq_add_adc32, K_ALU), T(seq_sub_sbb64, K_ALU), T(seq_test_adc64, K_ALU),
	T(seq_setcc_high8, K_SET), T(seq_rex8, K_NOFLAGS), T(seq_cmov16, K_SET), T(seq_cmov32, K_SET),
	T(loop, K_FLAGS), T(loope, K_FLAGS), T(loopne, K_FLAGS), T(loop32, K_FLAGS), T(jrcxz, K_FLAGS), T(jecxz, K_FLAGS),
};

static int width(const char *name) {
	const char *p = name;
	while (*p && (*p < '0' || *p > '9'))
		p++;
	int w = atoi(p);
	return w == 8 || w == 16 || w == 32 || w == 64 ? w : 64;
}

int main(int argc, char **argv) {
	int cases = argc > 1 ? atoi(argv[1]) : 200;
	rnd_state = argc > 2 ? strtoull(argv[2], 0, 10) : 88172645463325252ul;
	for (size_t t = 0; t < sizeof tmpls / sizeof tmpls[0]; t++) {
		const struct tmpl *tp = &tmpls[t];
		for (int c = 0; c < cases; c++) {
			struct st in = {operand(), operand(), operand(), operand(), (rnd() & ALL) | 2};
			if (tp->kind == K_DIV) {
				/* only cases that do not fault: small dividend high half, non-zero divisor */
				in.rbx |= 1;
				in.rdx = tp->name[0] == 'i' ? ((int64_t)in.rax < 0 ? ~0ul : 0) : in.rdx % (in.rbx & 0xffffffff);
				if (tp->name[0] == 'i' && in.rbx == ~0ul)
					in.rbx = 3;
			}
			if (tp->kind == K_SHIFT || tp->kind == K_ROT || tp->kind == K_RC || tp->kind == K_DSH)
				in.rcx = rnd() % 3 == 0 ? 1 : rnd() % 70;
			struct st out = in;
			tp->fn(&out);
			int w = width(tp->name);
			unsigned cnt = (unsigned)in.rcx & (w == 64 ? 63 : 31);
			/* immediate shift forms: the count is in the instruction */
			if (tp->fn == t_shlimm)
				cnt = 7;
			else if (tp->fn == t_sarimm)
				cnt = 31;
			else if (tp->fn == t_rolimm)
				cnt = 3;
			u64 fmask = ALL, rmask = 0xf;
			switch (tp->kind) {
			case K_LOGIC: fmask = ALL & ~AF; break;
			case K_INCDEC: fmask = ALL; break;
			case K_NOT: case K_NOFLAGS: fmask = 0; break;
			case K_SHIFT: fmask = cnt == 1 ? ALL & ~AF : cnt == 0 ? ALL : ALL & ~AF & ~OF; break;
			case K_ROT: fmask = cnt == 1 ? CF | OF : cnt == 0 ? ALL : CF; break;
			case K_RC: fmask = cnt == 1 ? CF | OF : cnt == 0 ? ALL : CF; break;
			case K_MUL: fmask = CF | OF; break;
			case K_BSF: fmask = ZF; if ((in.rbx & (w == 32 ? 0xffffffff : ~0ul)) == 0) rmask = 0xe; break;
			case K_CNT: fmask = ALL; break;
			case K_LZ: fmask = CF | ZF; break;
			case K_BT: fmask = CF; break;
			case K_DSH: fmask = cnt == 1 ? ALL & ~AF : cnt == 0 ? ALL : ALL & ~AF & ~OF; if (w == 16 && cnt > 16) { fmask = 0; rmask = 0xe; } break;
			case K_DIV: fmask = 0; break;
			case K_SET: fmask = ALL; break;
			case K_FLAGS: fmask = ALL; break;
			}
			if (tp->kind == K_SHIFT && tp->name[3] != 'i' && cnt > (unsigned)w && (tp->name[1] == 'h')) {
				/* shl/shr by more than the width: CF undefined on 8/16-bit operands */
				fmask &= ~CF;
			}
			printf("%s ", tp->name);
			for (const unsigned char *p = tp->start; p < tp->end; p++)
				printf("%02x", *p);
			printf(" %lx %lx %lx %lx %lx %lx %lx %lx %lx %lx %lx %lx\n", in.rax, in.rbx, in.rcx, in.rdx, in.flags,
			       out.rax, out.rbx, out.rcx, out.rdx, out.flags & 0xfd5, fmask, rmask);
		}
	}
	return 0;
}
