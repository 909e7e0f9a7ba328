/*
 * The host CPU as oracle for the emulator's x87, MMX, SSE and SSE2 instructions. For each template
 * and random state it loads the state with FXRSTOR, runs the instruction natively, saves it with
 * FXSAVE and prints one line:
 *   name code_hex rax rbx rcx rdx flags mem_in fx_in  rax' rbx' rcx' rdx' flags' mem_out fx_out  flag_mask
 * mem is the 64 bytes %rsi points to; fx is the first 416 bytes of the FXSAVE image (hex). The Java
 * test (SimdOracleTest) loads the same image with FXRSTOR, runs the instruction three ways and
 * compares what the architecture defines.
 * Build: gcc -O1 -mno-red-zone -o simd_oracle simd_oracle.c ; run: simd_oracle CASES SEED
 */
#include "oracle.h"
#include <string.h>

static void put(unsigned char *p, u64 v, int n) { memcpy(p, &v, n); }
static unsigned char fxin[512] __attribute__((aligned(64)));
static unsigned char fxout[512] __attribute__((aligned(64)));
static unsigned char mem[64] __attribute__((aligned(64)));

#define DEF(name, insn)                                                                                       \
	extern const unsigned char name##_start[], name##_end[];                                              \
	__attribute__((noinline)) static void t_##name(struct st *s) {                                        \
		__asm__ volatile("fxrstor64 (%[fi])\n\tpush %[f]\n\tpopfq\n\t.globl " #name "_start\n" #name "_start:\n\t" insn \
				 "\n\t.globl " #name "_end\n" #name "_end:\n\tpushfq\n\tpop %[f]\n\tfxsave64 (%[fo])"           \
				 : "+a"(s->rax), "+b"(s->rbx), "+c"(s->rcx), "+d"(s->rdx), [f] "+r"(s->flags)           \
				 : [fi] "D"(fxin), [fo] "r"(fxout), "S"(mem)                                             \
				 : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",       \
				   "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",                 \
				   "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)");                \
	}

/* kinds: how the inputs are drawn */
enum { K_INT, K_SS, K_SD, K_PS, K_PD, K_CTL, K_MMX, K_X87 };
static u64 lane64(int kind);
static void fp80(unsigned char *p);

#define LIST(X)                                                                                               \
	/* moves */                                                                                           \
	X(movaps, "movaps %%xmm1, %%xmm0", K_INT) X(movups_ld, "movups 3(%%rsi), %%xmm0", K_INT)                  \
	X(movups_st, "movups %%xmm1, 5(%%rsi)", K_INT) X(movaps_st, "movaps %%xmm1, 16(%%rsi)", K_INT)            \
	X(movss_ld, "movss 4(%%rsi), %%xmm0", K_SS) X(movss_rr, "movss %%xmm1, %%xmm0", K_SS)                     \
	X(movss_st, "movss %%xmm1, 8(%%rsi)", K_SS) X(movsd_ld, "movsd (%%rsi), %%xmm0", K_SD)                    \
	X(movsd_rr, "movsd %%xmm1, %%xmm0", K_SD) X(movsd_st, "movsd %%xmm1, 8(%%rsi)", K_SD)                     \
	X(movhlps, "movhlps %%xmm1, %%xmm0", K_INT) X(movlhps, "movlhps %%xmm1, %%xmm0", K_INT)                   \
	X(movlps_ld, "movlps 8(%%rsi), %%xmm0", K_INT) X(movhps_ld, "movhps 8(%%rsi), %%xmm0", K_INT)             \
	X(movlpd_st, "movlpd %%xmm1, 8(%%rsi)", K_INT) X(movhpd_st, "movhpd %%xmm1, 24(%%rsi)", K_INT)            \
	X(movapd, "movapd 32(%%rsi), %%xmm0", K_INT) X(movdqa_ld, "movdqa 16(%%rsi), %%xmm0", K_INT)              \
	X(movdqu_ld, "movdqu 7(%%rsi), %%xmm0", K_INT) X(movdqu_st, "movdqu %%xmm1, 9(%%rsi)", K_INT)             \
	X(movdqa_st, "movdqa %%xmm1, 32(%%rsi)", K_INT) X(movd_to, "movd %%ebx, %%xmm0", K_INT)                   \
	X(movq_to, "movq %%rbx, %%xmm0", K_INT) X(movd_from, "movd %%xmm1, %%eax", K_INT)                         \
	X(movq_from, "movq %%xmm1, %%rax", K_INT) X(movq_f3, "movq %%xmm1, %%xmm0", K_INT)                        \
	X(movq_st, "movq %%xmm1, 8(%%rsi)", K_INT) X(movq_ld, "movq 8(%%rsi), %%xmm0", K_INT)                     \
	X(movmskps, "movmskps %%xmm1, %%eax", K_PS) X(movmskpd, "movmskpd %%xmm1, %%eax", K_PD)                   \
	X(pmovmskb, "pmovmskb %%xmm1, %%eax", K_INT) X(movnti, "movnti %%rbx, 8(%%rsi)", K_INT)                   \
	X(movntdq, "movntdq %%xmm1, 16(%%rsi)", K_INT) X(movd_mem, "movd 4(%%rsi), %%xmm0", K_INT)                \
	X(movq_rex_mem, "movq %%xmm1, 8(%%rsi)", K_INT) X(movups_x9, "movups %%xmm1, %%xmm9\n\tmovups %%xmm9, %%xmm0", K_INT) \
	/* packed integer */                                                                                  \
	X(punpcklbw, "punpcklbw %%xmm1, %%xmm0", K_INT) X(punpcklwd, "punpcklwd %%xmm1, %%xmm0", K_INT)           \
	X(punpckldq, "punpckldq %%xmm1, %%xmm0", K_INT) X(punpcklqdq, "punpcklqdq %%xmm1, %%xmm0", K_INT)         \
	X(punpckhbw, "punpckhbw %%xmm1, %%xmm0", K_INT) X(punpckhwd, "punpckhwd %%xmm1, %%xmm0", K_INT)           \
	X(punpckhdq, "punpckhdq %%xmm1, %%xmm0", K_INT) X(punpckhqdq, "punpckhqdq %%xmm1, %%xmm0", K_INT)         \
	X(packsswb, "packsswb %%xmm1, %%xmm0", K_INT) X(packuswb, "packuswb %%xmm1, %%xmm0", K_INT)               \
	X(packssdw, "packssdw %%xmm1, %%xmm0", K_INT) X(pcmpeqb, "pcmpeqb %%xmm1, %%xmm0", K_INT)                 \
	X(pcmpeqb_m, "pcmpeqb 16(%%rsi), %%xmm0", K_INT) X(pcmpeqw, "pcmpeqw %%xmm1, %%xmm0", K_INT)              \
	X(pcmpeqd, "pcmpeqd %%xmm1, %%xmm0", K_INT) X(pcmpgtb, "pcmpgtb %%xmm1, %%xmm0", K_INT)                   \
	X(pcmpgtw, "pcmpgtw %%xmm1, %%xmm0", K_INT) X(pcmpgtd, "pcmpgtd %%xmm1, %%xmm0", K_INT)                   \
	X(paddb, "paddb %%xmm1, %%xmm0", K_INT) X(paddw, "paddw %%xmm1, %%xmm0", K_INT)                           \
	X(paddd, "paddd %%xmm1, %%xmm0", K_INT) X(paddq, "paddq %%xmm1, %%xmm0", K_INT)                           \
	X(psubb, "psubb %%xmm1, %%xmm0", K_INT) X(psubw, "psubw %%xmm1, %%xmm0", K_INT)                           \
	X(psubd, "psubd %%xmm1, %%xmm0", K_INT) X(psubq, "psubq %%xmm1, %%xmm0", K_INT)                           \
	X(paddusb, "paddusb %%xmm1, %%xmm0", K_INT) X(paddusw, "paddusw %%xmm1, %%xmm0", K_INT)                   \
	X(psubusb, "psubusb %%xmm1, %%xmm0", K_INT) X(psubusw, "psubusw %%xmm1, %%xmm0", K_INT)                   \
	X(paddsb, "paddsb %%xmm1, %%xmm0", K_INT) X(paddsw, "paddsw %%xmm1, %%xmm0", K_INT)                       \
	X(psubsb, "psubsb %%xmm1, %%xmm0", K_INT) X(psubsw, "psubsw %%xmm1, %%xmm0", K_INT)                       \
	X(pminub, "pminub %%xmm1, %%xmm0", K_INT) X(pmaxub, "pmaxub %%xmm1, %%xmm0", K_INT)                       \
	X(pminsw, "pminsw %%xmm1, %%xmm0", K_INT) X(pmaxsw, "pmaxsw %%xmm1, %%xmm0", K_INT)                       \
	X(pavgb, "pavgb %%xmm1, %%xmm0", K_INT) X(pavgw, "pavgw %%xmm1, %%xmm0", K_INT)                           \
	X(pmullw, "pmullw %%xmm1, %%xmm0", K_INT) X(pmulhw, "pmulhw %%xmm1, %%xmm0", K_INT)                       \
	X(pmulhuw, "pmulhuw %%xmm1, %%xmm0", K_INT) X(pmuludq, "pmuludq %%xmm1, %%xmm0", K_INT)                   \
	X(pmaddwd, "pmaddwd %%xmm1, %%xmm0", K_INT) X(psadbw, "psadbw %%xmm1, %%xmm0", K_INT)                     \
	X(pand, "pand %%xmm1, %%xmm0", K_INT) X(pandn, "pandn %%xmm1, %%xmm0", K_INT)                             \
	X(por, "por %%xmm1, %%xmm0", K_INT) X(pxor, "pxor %%xmm1, %%xmm0", K_INT)                                 \
	X(pxor_x10, "pxor %%xmm10, %%xmm10\n\tpor %%xmm10, %%xmm1", K_INT)                                       \
	X(psrlw, "psrlw %%xmm1, %%xmm0", K_INT) X(psrld, "psrld %%xmm1, %%xmm0", K_INT)                           \
	X(psrlq, "psrlq %%xmm1, %%xmm0", K_INT) X(psraw, "psraw %%xmm1, %%xmm0", K_INT)                           \
	X(psrad, "psrad %%xmm1, %%xmm0", K_INT) X(psllw, "psllw %%xmm1, %%xmm0", K_INT)                           \
	X(pslld, "pslld %%xmm1, %%xmm0", K_INT) X(psllq, "psllq %%xmm1, %%xmm0", K_INT)                           \
	X(psrlwi, "psrlw $3, %%xmm0", K_INT) X(psrawi, "psraw $15, %%xmm0", K_INT) X(psllwi, "psllw $17, %%xmm0", K_INT) \
	X(psrldi, "psrld $31, %%xmm0", K_INT) X(psradi, "psrad $7, %%xmm0", K_INT) X(pslldi, "pslld $1, %%xmm0", K_INT) \
	X(psrlqi, "psrlq $33, %%xmm0", K_INT) X(psllqi, "psllq $63, %%xmm0", K_INT)                              \
	X(psrldq, "psrldq $5, %%xmm0", K_INT) X(pslldq, "pslldq $11, %%xmm0", K_INT) X(psrldq16, "psrldq $16, %%xmm0", K_INT) \
	X(pshufd, "pshufd $0x1b, %%xmm1, %%xmm0", K_INT) X(pshufhw, "pshufhw $0xb1, %%xmm1, %%xmm0", K_INT)       \
	X(pshuflw, "pshuflw $0x4e, %%xmm1, %%xmm0", K_INT) X(pinsrw, "pinsrw $5, %%ebx, %%xmm0", K_INT)           \
	X(pextrw, "pextrw $6, %%xmm1, %%eax", K_INT) X(shufps, "shufps $0x9c, %%xmm1, %%xmm0", K_INT)             \
	X(shufpd, "shufpd $2, %%xmm1, %%xmm0", K_INT) X(unpcklps, "unpcklps %%xmm1, %%xmm0", K_INT)               \
	X(unpckhps, "unpckhps %%xmm1, %%xmm0", K_INT) X(unpcklpd, "unpcklpd %%xmm1, %%xmm0", K_INT)               \
	X(unpckhpd, "unpckhpd %%xmm1, %%xmm0", K_INT) X(andps, "andps %%xmm1, %%xmm0", K_INT)                     \
	X(andnps, "andnps %%xmm1, %%xmm0", K_INT) X(orps, "orps %%xmm1, %%xmm0", K_INT)                           \
	X(xorps, "xorps %%xmm1, %%xmm0", K_INT) X(andpd, "andpd %%xmm1, %%xmm0", K_INT)                           \
	X(andnpd, "andnpd %%xmm1, %%xmm0", K_INT) X(orpd, "orpd %%xmm1, %%xmm0", K_INT) X(xorpd, "xorpd %%xmm1, %%xmm0", K_INT) \
	/* floating point */                                                                                  \
	X(addss, "addss %%xmm1, %%xmm0", K_SS) X(addsd, "addsd %%xmm1, %%xmm0", K_SD)                             \
	X(addps, "addps %%xmm1, %%xmm0", K_PS) X(addpd, "addpd %%xmm1, %%xmm0", K_PD)                             \
	X(subss, "subss %%xmm1, %%xmm0", K_SS) X(subsd, "subsd %%xmm1, %%xmm0", K_SD)                             \
	X(subps, "subps %%xmm1, %%xmm0", K_PS) X(subpd, "subpd %%xmm1, %%xmm0", K_PD)                             \
	X(mulss, "mulss %%xmm1, %%xmm0", K_SS) X(mulsd, "mulsd %%xmm1, %%xmm0", K_SD)                             \
	X(mulps, "mulps %%xmm1, %%xmm0", K_PS) X(mulpd, "mulpd %%xmm1, %%xmm0", K_PD)                             \
	X(divss, "divss %%xmm1, %%xmm0", K_SS) X(divsd, "divsd %%xmm1, %%xmm0", K_SD)                             \
	X(divps, "divps %%xmm1, %%xmm0", K_PS) X(divpd, "divpd %%xmm1, %%xmm0", K_PD)                             \
	X(sqrtss, "sqrtss %%xmm1, %%xmm0", K_SS) X(sqrtsd, "sqrtsd %%xmm1, %%xmm0", K_SD)                         \
	X(sqrtps, "sqrtps %%xmm1, %%xmm0", K_PS) X(sqrtpd, "sqrtpd %%xmm1, %%xmm0", K_PD)                         \
	X(minss, "minss %%xmm1, %%xmm0", K_SS) X(minsd, "minsd %%xmm1, %%xmm0", K_SD)                             \
	X(maxps, "maxps %%xmm1, %%xmm0", K_PS) X(maxpd, "maxpd %%xmm1, %%xmm0", K_PD)                             \
	X(maxsd, "maxsd %%xmm1, %%xmm0", K_SD) X(minpd, "minpd %%xmm1, %%xmm0", K_PD)                             \
	X(addsd_m, "addsd 8(%%rsi), %%xmm0", K_SD) X(mulpd_m, "mulpd 16(%%rsi), %%xmm0", K_PD)                    \
	X(cmpeqsd, "cmpeqsd %%xmm1, %%xmm0", K_SD) X(cmpltsd, "cmpltsd %%xmm1, %%xmm0", K_SD)                     \
	X(cmplesd, "cmplesd %%xmm1, %%xmm0", K_SD) X(cmpunordsd, "cmpunordsd %%xmm1, %%xmm0", K_SD)               \
	X(cmpneqps, "cmpneqps %%xmm1, %%xmm0", K_PS) X(cmpnltps, "cmpnltps %%xmm1, %%xmm0", K_PS)                 \
	X(cmpnlepd, "cmpnlepd %%xmm1, %%xmm0", K_PD) X(cmpordpd, "cmpordpd %%xmm1, %%xmm0", K_PD)                 \
	X(cmpltss, "cmpltss %%xmm1, %%xmm0", K_SS) X(cmpeqps, "cmpeqps %%xmm1, %%xmm0", K_PS)                     \
	X(comisd, "comisd %%xmm1, %%xmm0", K_SD) X(ucomisd, "ucomisd %%xmm1, %%xmm0", K_SD)                       \
	X(comiss, "comiss %%xmm1, %%xmm0", K_SS) X(ucomiss, "ucomiss %%xmm1, %%xmm0", K_SS)                       \
	X(cvtsi2sd, "cvtsi2sdl %%ebx, %%xmm0", K_SD) X(cvtsi2sdq, "cvtsi2sdq %%rbx, %%xmm0", K_SD)                \
	X(cvtsi2ss, "cvtsi2ssl %%ebx, %%xmm0", K_SS) X(cvtsi2ssq, "cvtsi2ssq %%rbx, %%xmm0", K_SS)                \
	X(cvttsd2si, "cvttsd2si %%xmm1, %%eax", K_SD) X(cvttsd2siq, "cvttsd2si %%xmm1, %%rax", K_SD)              \
	X(cvtsd2si, "cvtsd2si %%xmm1, %%eax", K_SD) X(cvtsd2siq, "cvtsd2si %%xmm1, %%rax", K_SD)                  \
	X(cvttss2si, "cvttss2si %%xmm1, %%eax", K_SS) X(cvtss2siq, "cvtss2si %%xmm1, %%rax", K_SS)                \
	X(cvtsd2ss, "cvtsd2ss %%xmm1, %%xmm0", K_SD) X(cvtss2sd, "cvtss2sd %%xmm1, %%xmm0", K_SS)                 \
	X(cvtps2pd, "cvtps2pd %%xmm1, %%xmm0", K_PS) X(cvtpd2ps, "cvtpd2ps %%xmm1, %%xmm0", K_PD)                 \
	X(cvtdq2ps, "cvtdq2ps %%xmm1, %%xmm0", K_INT) X(cvtps2dq, "cvtps2dq %%xmm1, %%xmm0", K_PS)                \
	X(cvttps2dq, "cvttps2dq %%xmm1, %%xmm0", K_PS) X(cvtdq2pd, "cvtdq2pd %%xmm1, %%xmm0", K_INT)              \
	X(cvtpd2dq, "cvtpd2dq %%xmm1, %%xmm0", K_PD) X(cvttpd2dq, "cvttpd2dq %%xmm1, %%xmm0", K_PD)               \
	/* MMX */                                                                                             \
	X(paddb_mm, "paddb %%mm1, %%mm0", K_MMX) X(psubusw_mm, "psubusw %%mm2, %%mm3", K_MMX)                     \
	X(pcmpeqb_mm, "pcmpeqb (%%rsi), %%mm5", K_MMX) X(punpcklbw_mm, "punpcklbw %%mm1, %%mm0", K_MMX)           \
	X(punpckhdq_mm, "punpckhdq %%mm1, %%mm7", K_MMX) X(packuswb_mm, "packuswb %%mm1, %%mm0", K_MMX)           \
	X(movq_mm, "movq %%mm1, %%mm0", K_MMX) X(movq_mm_st, "movq %%mm4, 8(%%rsi)", K_MMX)                       \
	X(movd_mm, "movd %%ebx, %%mm2", K_MMX) X(movq_mm_rax, "movq %%mm6, %%rax", K_MMX)                         \
	X(psrlqi_mm, "psrlq $3, %%mm0", K_MMX) X(pshufw_mm, "pshufw $0x1b, %%mm1, %%mm0", K_MMX)                  \
	X(pmovmskb_mm, "pmovmskb %%mm1, %%eax", K_MMX) X(emms, "emms", K_MMX)                                     \
	X(movq2dq, "movq2dq %%mm1, %%xmm0", K_MMX) X(movdq2q, "movdq2q %%xmm1, %%mm0", K_MMX)                     \
	X(cvtpi2ps, "cvtpi2ps %%mm1, %%xmm0", K_MMX) X(cvttps2pi, "cvttps2pi %%xmm1, %%mm0", K_MMX)               \
	X(cvtpi2pd, "cvtpi2pd %%mm1, %%xmm0", K_MMX) X(cvtpd2pi, "cvtpd2pi %%xmm1, %%mm0", K_MMX)                 \
	/* x87 */                                                                                             \
	X(fld1, "fld1", K_X87) X(fldz, "fldz", K_X87) X(fldpi, "fldpi", K_X87) X(fldl2e, "fldl2e", K_X87)         \
	X(fldl2t, "fldl2t", K_X87) X(fldlg2, "fldlg2", K_X87) X(fldln2, "fldln2", K_X87)                         \
	X(flds, "flds 4(%%rsi)", K_X87) X(fldl, "fldl 8(%%rsi)", K_X87) X(fldt, "fldt 16(%%rsi)", K_X87)          \
	X(fld_st, "fld %%st(2)", K_X87) X(filds, "filds 2(%%rsi)", K_X87) X(fildl, "fildl 4(%%rsi)", K_X87)       \
	X(fildll, "fildll 8(%%rsi)", K_X87) X(fsts, "fsts 8(%%rsi)", K_X87) X(fstps, "fstps 8(%%rsi)", K_X87)     \
	X(fstl, "fstl 8(%%rsi)", K_X87) X(fstpl, "fstpl 8(%%rsi)", K_X87) X(fstpt, "fstpt 16(%%rsi)", K_X87)      \
	X(fst_st, "fst %%st(3)", K_X87) X(fstp_st, "fstp %%st(1)", K_X87) X(fists, "fists 8(%%rsi)", K_X87)      \
	X(fistl, "fistl 8(%%rsi)", K_X87) X(fistpll, "fistpll 8(%%rsi)", K_X87) X(fistps, "fistps 8(%%rsi)", K_X87) \
	X(fxch, "fxch %%st(2)", K_X87) X(fchs, "fchs", K_X87) X(fabs, "fabs", K_X87) X(ftst, "ftst", K_X87)       \
	X(fxam, "fxam", K_X87) X(fadd_r, "fadd %%st(1), %%st", K_X87) X(fadd_r2, "fadd %%st, %%st(2)", K_X87)     \
	X(faddp, "faddp %%st, %%st(1)", K_X87) X(fsub_r, "fsub %%st(1), %%st", K_X87) X(fsubr_r, "fsubr %%st(1), %%st", K_X87) \
	X(fsub_r2, ".byte 0xdc, 0xe9", K_X87) X(fsubr_r2, ".byte 0xdc, 0xe1", K_X87)                              \
	X(fsubp, ".byte 0xde, 0xe9", K_X87) X(fsubrp, ".byte 0xde, 0xe1", K_X87)                                  \
	X(fmul_r, "fmul %%st(1), %%st", K_X87) X(fmulp, "fmulp %%st, %%st(3)", K_X87)                            \
	X(fdiv_r, "fdiv %%st(1), %%st", K_X87) X(fdivr_r, "fdivr %%st(1), %%st", K_X87)                          \
	X(fdiv_r2, ".byte 0xdc, 0xf9", K_X87) X(fdivr_r2, ".byte 0xdc, 0xf1", K_X87)                              \
	X(fdivp, ".byte 0xde, 0xf9", K_X87) X(fdivrp, ".byte 0xde, 0xf1", K_X87)                                  \
	X(fadds, "fadds 4(%%rsi)", K_X87) X(faddl, "faddl 8(%%rsi)", K_X87) X(fiaddl, "fiaddl 4(%%rsi)", K_X87)  \
	X(fisubs, "fisubs 2(%%rsi)", K_X87) X(fmull, "fmull 8(%%rsi)", K_X87) X(fdivs, "fdivs 4(%%rsi)", K_X87)   \
	X(fdivrl, "fdivrl 8(%%rsi)", K_X87) X(fsubrs, "fsubrs 4(%%rsi)", K_X87) X(fimull, "fimull 4(%%rsi)", K_X87) \
	X(fcom, "fcom %%st(1)", K_X87) X(fcomp, "fcomp %%st(2)", K_X87) X(fcompp, "fcompp", K_X87)               \
	X(fucom, "fucom %%st(1)", K_X87) X(fucomp, "fucomp %%st(1)", K_X87) X(fucompp, "fucompp", K_X87)         \
	X(fcomi, "fcomi %%st(1), %%st", K_X87) X(fucomi, "fucomi %%st(2), %%st", K_X87)                          \
	X(fcomip, "fcomip %%st(1), %%st", K_X87) X(fucomip, "fucomip %%st(1), %%st", K_X87)                      \
	X(fcoms, "fcoms 4(%%rsi)", K_X87) X(fcompl, "fcompl 8(%%rsi)", K_X87) X(ficoml, "ficoml 4(%%rsi)", K_X87) \
	X(fcmovb, "fcmovb %%st(1), %%st", K_X87) X(fcmovne, "fcmovne %%st(2), %%st", K_X87)                      \
	X(fcmovnbe, "fcmovnbe %%st(1), %%st", K_X87) X(fcmovu, "fcmovu %%st(1), %%st", K_X87)                    \
	X(fsqrt, "fsqrt", K_X87) X(frndint, "frndint", K_X87) X(fscale, "fscale", K_X87) X(fxtract, "fxtract", K_X87) \
	X(fprem, "fprem", K_X87) X(fprem1, "fprem1", K_X87) X(fdecstp, "fdecstp", K_X87) X(fincstp, "fincstp", K_X87) \
	X(ffree, "ffree %%st(3)", K_X87) X(fnstenv, "fnstenv 8(%%rsi)", K_X87) X(fbstp, "fbstp 16(%%rsi)", K_X87)  \
	X(fnop, "fnop", K_X87) X(fild_fadd, "fildl 4(%%rsi)\n\tfmul %%st(1), %%st\n\tfaddp\n\tfstpl 8(%%rsi)", K_X87) \
	X(sequence, "fninit\n\tfld1\n\tfldpi\n\tfdivrp\n\tfsqrt\n\tmovq %%rbx, %%mm2\n\temms\n\taddsd %%xmm1, %%xmm0\n\tldmxcsr (%%rsi)\n\tcvtsd2ss %%xmm0, %%xmm3\n\tfldl2e", K_X87) \
	/* control */                                                                                         \
	X(stmxcsr, "stmxcsr 8(%%rsi)", K_CTL) X(ldmxcsr, "ldmxcsr (%%rsi)", K_CTL)                                \
	X(fninit, "fninit", K_CTL) X(fnstcw, "fnstcw 8(%%rsi)", K_CTL) X(fldcw, "fldcw (%%rsi)", K_CTL)           \
	X(fnstsw_ax, "fnstsw %%ax", K_CTL) X(fnstsw_m, "fnstsw 8(%%rsi)", K_CTL) X(fnclex, "fnclex", K_CTL)       \
	X(fwait, "fwait", K_CTL)

#define X(n, i, k) DEF(n, i)
LIST(X)
#undef X

struct tmpl { const char *name; void (*fn)(struct st *); const unsigned char *start, *end; int kind; };
#define X(n, i, k) {#n, t_##n, n##_start, n##_end, k},
static const struct tmpl tmpls[] = {LIST(X)};
#undef X

static u64 fp64(void) {
	u64 s = (rnd() & 1) << 63;
	switch (rnd() % 12) {
	case 0: return s;
	case 1: return s | 0x7ff0000000000000ul;
	case 2: return s | 0x7ff8000000000000ul | (rnd() & 0xfffffffffful);
	case 3: return s | 0x7ff0000000000000ul | (1 + rnd() % 0x7ffffffffffful);
	case 4: return s | (rnd() & 0xffffffffffffful);
	case 5: { double d = (double)(int)(rnd() % 200) - 100; u64 v; memcpy(&v, &d, 8); return v; }
	case 6: return s | ((u64)(1013 + rnd() % 20) << 52) | (rnd() & 0xffffffffffffful);
	case 7: return s | ((u64)(2040 + rnd() % 7) << 52) | (rnd() & 0xffffffffffffful);
	case 8: return s | ((u64)(1 + rnd() % 3) << 52) | (rnd() & 0xffffffffffffful);
	case 9: return s | 0x3ff0000000000000ul | (rnd() % 4);
	default: return rnd();
	}
}

static uint32_t fp32(void) {
	uint32_t s = (rnd() & 1) << 31;
	switch (rnd() % 12) {
	case 0: return s;
	case 1: return s | 0x7f800000;
	case 2: return s | 0x7fc00000 | (rnd() & 0xffff);
	case 3: return s | 0x7f800000 | (1 + rnd() % 0x3fffff);
	case 4: return s | (rnd() & 0x7fffff);
	case 5: { float f = (float)(int)(rnd() % 200) - 100; uint32_t v; memcpy(&v, &f, 4); return v; }
	case 6: return s | ((uint32_t)(117 + rnd() % 20) << 23) | (rnd() & 0x7fffff);
	case 7: return s | ((uint32_t)(248 + rnd() % 7) << 23) | (rnd() & 0x7fffff);
	case 8: return s | ((uint32_t)(1 + rnd() % 3) << 23) | (rnd() & 0x7fffff);
	case 9: return s | 0x3f800000 | (rnd() % 4);
	default: return rnd();
	}
}

/* an 80-bit value: significand and sign/exponent */
static void fp80(unsigned char *p) {
	u64 m = rnd() | 1ul << 63;
	unsigned se = (rnd() & 1) << 15;
	switch (rnd() % 10) {
	case 0: m = 0; break;
	case 1: m = 1ul << 63; se |= 0x7fff; break;
	case 2: se |= 0x7fff; m |= 1ul << 62; break;
	case 3: se |= 0x7fff; m &= ~(1ul << 62); m |= 1; break;
	case 4: m &= ~(1ul << 63); break; /* denormal */
	case 5: { long double d = (long double)(int)(rnd() % 200) - 100; memcpy(&m, &d, 8); memcpy(&se, (char *)&d + 8, 2); break; }
	case 6: se |= 0x3fff - 20 + rnd() % 40; break;
	case 7: se |= 0x3fff + rnd() % 70; break;
	case 8: se |= rnd() % 0x7fff; break;
	default: se |= 0x3fff - 70 + rnd() % 140; break;
	}
	put(p, m, 8);
	put(p + 8, se, 2);
}

static u64 lane64(int kind) {
	switch (kind) {
	case K_SD: case K_PD: return fp64();
	case K_SS: case K_PS: return fp32() | (u64)fp32() << 32;
	default:
		switch (rnd() % 6) {
		case 0: return 0;
		case 1: return ~0ul;
		case 2: return rnd() & 0x00ff00ff00ff00fful;
		case 3: return rnd() % 70;
		default: return rnd();
		}
	}
}


static void hex(const unsigned char *p, int n) {
	for (int i = 0; i < n; i++)
		printf("%02x", p[i]);
}

int main(int argc, char **argv) {
	int cases = argc > 1 ? atoi(argv[1]) : 50;
	rnd_state = argc > 2 ? strtoull(argv[2], 0, 10) : 88172645463325252ul;
	for (size_t t = 0; t < sizeof tmpls / sizeof tmpls[0]; t++) {
		const struct tmpl *tp = &tmpls[t];
		for (int c = 0; c < cases; c++) {
			memset(fxin, 0, sizeof fxin);
			put(fxin + 0, 0x37f, 2);
			u64 mx = 0x1f80 | (rnd() % 4) << 13;
			if (rnd() % 4 == 0) mx |= 0x40; /* DAZ */
			if (rnd() % 4 == 0) mx |= 0x8000; /* FTZ */
			if (rnd() % 4 == 0) mx |= rnd() & 0x3f;
			put(fxin + 24, mx, 4);
			put(fxin + 28, 0xffff, 4);
			if (tp->kind == K_MMX || tp->kind == K_CTL) {
				/* x87 registers with random contents and tags, TOP random */
				fxin[4] = rnd();
				put(fxin + 2, (rnd() % 8) << 11, 2);
				for (int i = 0; i < 8; i++) {
					put(fxin + 32 + 16 * i, rnd(), 8);
					put(fxin + 40 + 16 * i, rnd() & 0xffff, 2);
				}
			}
			if (tp->kind == K_X87) {
				/* every exception masked; rounding and precision control random */
				put(fxin, 0x7f | (rnd() % 4) << 10 | (rnd() % 4 == 0 ? 0 : 1 + rnd() % 3) << 8, 2);
				put(fxin + 2, (rnd() % 8) << 11, 2);
				fxin[4] = rnd() % 3 == 0 ? rnd() : 0xff;
				for (int i = 0; i < 8; i++)
					fp80(fxin + 32 + 16 * i);
				if (rnd() % 4 == 0) /* ST1 near ST0: cancellation, equal operands */
					memcpy(fxin + 48, fxin + 32, 10), fxin[48] ^= rnd() % 2;
			}
			for (int i = 0; i < 8; i++) {
				u64 v = lane64(tp->kind);
				if (i == 2 && rnd() % 3 == 0) /* a source near the destination: cancellation, equal bytes */
					v = *(u64 *)(fxin + 160) ^ (rnd() % 3 == 0 ? 0 : 1ul << (rnd() % 64));
				if (i == 2 && (tp->name[1] == 's') && rnd() % 2)
					v = rnd() % 70; /* shift counts */
				put(fxin + 160 + 8 * i, v, 8);
			}
			for (int i = 0; i < 64; i += 8)
				put(mem + i, lane64(tp->kind == K_X87 ? (rnd() % 2 ? K_SD : K_PS) : tp->kind), 8);
			if (tp->kind == K_X87 && rnd() % 2)
				fp80(mem + 16);
			if (tp->fn == t_sequence)
				put(mem, 0x1f80 | (rnd() % 4) << 13, 4);
			if (tp->kind == K_CTL)
				put(mem, (0x1f80 | (rnd() % 4) << 13 | (rnd() & 0x3f)) | (rnd() & 0xffff) << 16 , 4);
			if (tp->kind == K_CTL && tp->fn != t_ldmxcsr)
				put(mem, rnd() & 0xffff, 2);
			struct st in = {rnd(), rnd() % 2 ? rnd() : (u64)(int)(rnd() % 1000) - 500, rnd(), rnd(), (rnd() & ALL) | 2};
			if (tp->fn == t_ldmxcsr)
				put(mem, (0x1f80 | (rnd() % 4) << 13 | (rnd() & 0x3f) | (rnd() % 2) << 6), 4);
			unsigned char memin[64], fxcopy[416];
			memcpy(memin, mem, 64);
			memcpy(fxcopy, fxin, 416);
			struct st out = in;
			tp->fn(&out);
			printf("%s ", tp->name);
			hex(tp->start, tp->end - tp->start);
			printf(" %lx %lx %lx %lx %lx ", in.rax, in.rbx, in.rcx, in.rdx, in.flags);
			hex(memin, 64);
			printf(" ");
			hex(fxcopy, 416);
			printf(" %lx %lx %lx %lx %lx ", out.rax, out.rbx, out.rcx, out.rdx, out.flags & 0xfd5);
			hex(mem, 64);
			printf(" ");
			hex(fxout, 416);
			printf(" %x\n", ALL);
		}
	}
	return 0;
}
