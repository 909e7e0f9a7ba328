/*
 * Reset: counts its boots in RAM the image does not cover (a reset keeps RAM; the VMM loads only
 * the image again), prints the count, and resets the platform: through the ACPI reset register
 * (0xcf9 <- 6, the FADT's RESET_REG) on the first boot, through the i8042 (0xfe to port 0x64) on
 * the second. The third boot powers off through ACPI: SLP_TYP S5 (the DSDT's \_S5, 5) with
 * SLP_EN in PM1a_CNT (0x604), as Linux's acpi_power_off does. Under --on-reset exit the VMM ends
 * at the first reset instead.
 */
#include "../common/guest.h"

static inline void outw(u16 port, u16 v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port)); }

#define MAGIC 0x746f6f626572ul /* "reboot" */
static volatile u64 *const boots = (volatile u64 *)0x3ff000; /* below 4 MiB, above the image */

int main(void) {
	if (boots[0] != MAGIC) {
		boots[0] = MAGIC;
		boots[1] = 0;
	}
	u64 n = ++boots[1];
	puts("reset: boot ");
	put_dec(n);
	putc('\n');
	if (n == 1)
		outb(0xcf9, 0x06);
	else if (n == 2)
		outb(0x64, 0xfe);
	else
		outw(0x604, 5 << 10 | 1 << 13);
	puts("reset: still running\n");
	return 1;
}
