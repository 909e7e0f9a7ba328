/*
 * Reports what the VMM handed the guest at boot, the same way for both protocols: the PVH
 * start_info (main, through common/start.S) or the Linux boot_params (bz_main, through bzentry.S
 * as a bzImage entered at its 64-bit entry). Prints the command line, the E820 map's usable RAM,
 * the initrd's size and byte sum, and what it finds through the ACPI RSDP (checksums, the XSDT's
 * tables, the MADT's CPUs, the DSDT's size); then exits 0, or 1 if something is missing.
 */
#include "../common/guest.h"
#include "../common/pvh.h"

struct report {
	const char *protocol;
	const char *cmdline;
	u64 ram;
	u32 e820;
	u64 initrd;
	u64 initrd_size;
	u64 rsdp;
};

static u8 sum8(const u8 *p, u64 n) {
	u8 s = 0;
	for (u64 i = 0; i < n; i++)
		s = (u8)(s + p[i]);
	return s;
}

static int sig(const u8 *p, const char *s) {
	for (int i = 0; i < 4; i++)
		if (p[i] != (u8)s[i])
			return 0;
	return 1;
}

static u32 rd32(const u8 *p) { return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24; }
static u64 rd64(const u8 *p) { return rd32(p) | (u64)rd32(p + 4) << 32; }

/* Walks RSDP -> XSDT -> tables; prints one line per table; 0 if every checksum holds. */
static int acpi(u64 rsdp_addr) {
	const u8 *rsdp = (const u8 *)rsdp_addr;
	if (!rsdp || !sig(rsdp, "RSD ") || !sig(rsdp + 4, "PTR ")) {
		puts("bootinfo: no RSDP\n");
		return 1;
	}
	int bad = sum8(rsdp, 20) != 0 || sum8(rsdp, 36) != 0;
	puts("bootinfo: rsdp revision ");
	put_dec(rsdp[15]);
	puts(bad ? " bad checksum\n" : " ok\n");
	const u8 *xsdt = (const u8 *)rd64(rsdp + 24);
	u32 len = rd32(xsdt + 4);
	bad |= !sig(xsdt, "XSDT") || sum8(xsdt, len) != 0;
	for (u32 off = 36; off + 8 <= len; off += 8) {
		const u8 *t = (const u8 *)rd64(xsdt + off);
		u32 tlen = rd32(t + 4);
		int ok = sum8(t, tlen) == 0;
		bad |= !ok;
		puts("bootinfo: table ");
		for (int i = 0; i < 4; i++)
			putc((char)t[i]);
		puts(ok ? " ok" : " bad checksum");
		if (sig(t, "APIC")) {
			u32 cpus = 0, ioapics = 0;
			for (u32 e = 44; e + 2 <= tlen && t[e + 1]; e += t[e + 1]) {
				cpus += t[e] == 0 && (t[e + 4] & 1);
				ioapics += t[e] == 1;
			}
			puts(" cpus ");
			put_dec(cpus);
			puts(" ioapics ");
			put_dec(ioapics);
		}
		if (sig(t, "FACP")) {
			const u8 *dsdt = (const u8 *)rd64(t + 140);
			int dok = sig(dsdt, "DSDT") && sum8(dsdt, rd32(dsdt + 4)) == 0;
			bad |= !dok;
			puts(dok ? " dsdt ok" : " dsdt bad");
		}
		putc('\n');
	}
	return bad;
}

static int report(const struct report *r) {
	puts("bootinfo: protocol ");
	puts(r->protocol);
	puts("\nbootinfo: cmdline '");
	puts(r->cmdline ? r->cmdline : "");
	puts("'\nbootinfo: e820 entries ");
	put_dec(r->e820);
	puts(" usable ");
	put_dec(r->ram);
	puts("\nbootinfo: initrd size ");
	put_dec(r->initrd_size);
	u64 sum = 0;
	const u8 *rd = (const u8 *)r->initrd;
	for (u64 i = 0; i < r->initrd_size; i++)
		sum += rd[i];
	puts(" sum ");
	put_dec(sum);
	putc('\n');
	return acpi(r->rsdp);
}

/* PVH: common/start.S calls main with the start_info. */
int main(const struct hvm_start_info *si) {
	struct report r = {"pvh", 0, 0, 0, 0, 0, 0};
	if (si->magic != HVM_START_MAGIC) {
		puts("bootinfo: bad start_info magic\n");
		return 1;
	}
	r.cmdline = (const char *)si->cmdline_paddr;
	const struct hvm_memmap_table_entry *m = (const struct hvm_memmap_table_entry *)si->memmap_paddr;
	r.e820 = si->memmap_entries;
	for (u32 i = 0; i < si->memmap_entries; i++)
		if (m[i].type == 1)
			r.ram += m[i].size;
	if (si->nr_modules) {
		const u64 *mod = (const u64 *)si->modlist_paddr;
		r.initrd = mod[0];
		r.initrd_size = mod[1];
	}
	r.rsdp = si->rsdp_paddr;
	return report(&r);
}

/* bzImage: bzentry.S calls bz_main with %rsi, the boot_params (arch/x86/include/uapi/asm/bootparam.h). */
int bz_main(const u8 *bp) {
	struct report r = {"bzimage", 0, 0, 0, 0, 0, 0};
	if (!sig(bp + 0x202, "HdrS") || bp[0x210] != 0xff) {
		puts("bootinfo: boot_params without the setup header or type_of_loader\n");
		return 1;
	}
	r.cmdline = (const char *)(u64)rd32(bp + 0x228);
	r.e820 = bp[0x1e8];
	for (u32 i = 0; i < r.e820; i++) {
		const u8 *e = bp + 0x2d0 + 20 * i;
		if (rd32(e + 16) == 1)
			r.ram += rd64(e + 8);
	}
	r.initrd = rd32(bp + 0x218) | (u64)rd32(bp + 0xc0) << 32;
	r.initrd_size = rd32(bp + 0x21c) | (u64)rd32(bp + 0xc4) << 32;
	r.rsdp = rd64(bp + 0x70);
	return report(&r);
}
