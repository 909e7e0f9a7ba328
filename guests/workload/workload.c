/*
 * A CoreMark-like integer workload: linked-list reversal and merge sort, matrix multiply,
 * a state machine over text, CRC-32, and division/shift/bit-count mixes. Every part feeds one
 * checksum, so any wrong instruction changes the result.
 */
#include "workload.h"

typedef unsigned long u64;
typedef unsigned int u32;
typedef long s64;
typedef int s32;

#define N_NODES 256
#define MAT 12

struct node {
	struct node *next;
	s32 key;
	u32 data;
};

static struct node nodes[N_NODES];
static s32 ma[MAT][MAT], mb[MAT][MAT];
static s64 mc[MAT][MAT];
static u32 crc_table[256];

static u32 lcg(u32 *s) {
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static u32 crc32(u32 crc, const unsigned char *p, u64 n) {
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static struct node *merge(struct node *a, struct node *b) {
	struct node head, *t = &head;
	while (a && b) {
		if (a->key <= b->key) {
			t->next = a;
			a = a->next;
		} else {
			t->next = b;
			b = b->next;
		}
		t = t->next;
	}
	t->next = a ? a : b;
	return head.next;
}

static struct node *sort(struct node *list) {
	if (!list || !list->next)
		return list;
	struct node *slow = list, *fast = list->next;
	while (fast && fast->next) {
		slow = slow->next;
		fast = fast->next->next;
	}
	struct node *second = slow->next;
	slow->next = 0;
	return merge(sort(list), sort(second));
}

static struct node *reverse(struct node *l) {
	struct node *prev = 0;
	while (l) {
		struct node *n = l->next;
		l->next = prev;
		prev = l;
		l = n;
	}
	return prev;
}

static u64 list_part(u32 *seed) {
	for (int i = 0; i < N_NODES; i++) {
		nodes[i].key = (s32)(lcg(seed) % 2001) - 1000;
		nodes[i].data = lcg(seed);
		nodes[i].next = i + 1 < N_NODES ? &nodes[i + 1] : 0;
	}
	struct node *l = sort(reverse(&nodes[0]));
	u64 h = 0;
	s32 prev = -1001;
	for (; l; l = l->next) {
		if (l->key < prev)
			return 0xbad;
		prev = l->key;
		h = h * 31 + (u64)(s64)l->key + (l->data & 0xff);
	}
	return h;
}

static u64 matrix_part(u32 *seed) {
	for (int i = 0; i < MAT; i++)
		for (int j = 0; j < MAT; j++) {
			ma[i][j] = (s32)(lcg(seed) & 0xffff) - 0x8000;
			mb[i][j] = (s32)(lcg(seed) & 0xff) - 0x80;
		}
	for (int i = 0; i < MAT; i++)
		for (int j = 0; j < MAT; j++) {
			s64 s = 0;
			for (int k = 0; k < MAT; k++)
				s += (s64)ma[i][k] * mb[k][j];
			mc[i][j] = s;
		}
	u64 h = 0;
	for (int i = 0; i < MAT; i++)
		for (int j = 0; j < MAT; j++)
			h = (h << 5 | h >> 59) ^ (u64)mc[i][j];
	return h;
}

/* Counts numbers, words and symbols in generated text with a small state machine. */
static u64 state_part(u32 *seed) {
	static const char alphabet[] = "abc 0123,.-+e9 xyz";
	char text[200];
	for (int i = 0; i < 199; i++)
		text[i] = alphabet[lcg(seed) % (sizeof(alphabet) - 1)];
	text[199] = 0;
	enum { START, INT, FLOAT, EXP, WORD, SYM } st = START;
	u64 counts[6] = {0};
	for (const char *p = text; *p; p++) {
		char c = *p;
		int digit = c >= '0' && c <= '9';
		switch (st) {
		case START: st = digit ? INT : (c >= 'a' && c <= 'z') ? WORD : (c == ' ' ? START : SYM); break;
		case INT: st = digit ? INT : c == '.' ? FLOAT : c == 'e' ? EXP : START; break;
		case FLOAT: st = digit ? FLOAT : c == 'e' ? EXP : START; break;
		case EXP: st = digit || c == '-' || c == '+' ? EXP : START; break;
		case WORD: st = (c >= 'a' && c <= 'z') ? WORD : START; break;
		case SYM: st = START; break;
		}
		counts[st]++;
	}
	u64 h = 0;
	for (int i = 0; i < 6; i++)
		h = h * 1000003 + counts[i];
	return h;
}

static u64 arith_part(u32 *seed) {
	u64 h = 0;
	for (int i = 0; i < 64; i++) {
		u64 a = ((u64)lcg(seed) << 32) | lcg(seed);
		u64 b = (lcg(seed) | 1);
		s64 sa = (s64)a >> (i & 31);
		h += a / b + a % b + (u64)(sa / (s64)(b | 3)) + (u64)__builtin_popcountl(a) + (u64)__builtin_ctzl(a | 1) +
		     (u64)__builtin_clzl(a | 1) + __builtin_bswap64(a) + ((a << (i & 63)) | (a >> ((64 - i) & 63)));
		h ^= (u64)((unsigned __int128)a * b >> 64);
		if ((s64)h < 0)
			h = ~h;
	}
	return h;
}

unsigned long workload(unsigned long iterations) {
	for (u32 i = 0; i < 256; i++) {
		u32 c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
	u32 crc = 0;
	u32 seed = 42;
	for (u64 it = 0; it < iterations; it++) {
		u64 r[4] = {list_part(&seed), matrix_part(&seed), state_part(&seed), arith_part(&seed)};
		crc = crc32(crc, (const unsigned char *)r, sizeof r);
	}
	return crc;
}
