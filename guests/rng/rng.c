/*
 * Watches for the example RNG device (examples/third-party-device) on port 0x5f0 and reports
 * each time it appears or disappears; reads a few random numbers while it is there. Ends after
 * absent -> present -> absent. Without the device every read answers all-ones.
 */
#include "../common/guest.h"

static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

int main(void) {
	int state = -1, changes = 0;
	u32 last = 0, distinct = 0;
	while (changes < 3) {
		int present = inb(0x5f0) == 'R';
		if (present) {
			u32 v = inl(0x5f4);
			distinct += v != last;
			last = v;
		}
		if (present != state) {
			puts(present ? "rng: present\n" : "rng: absent\n");
			state = present;
			changes++;
		}
		for (volatile int i = 0; i < 2000; i++)
			;
	}
	puts(distinct > 1 ? "rng: values vary\n" : "rng: values stuck\n");
	return distinct > 1 ? 0 : 3;
}
