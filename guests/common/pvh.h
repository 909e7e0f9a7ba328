/* The PVH boot protocol's start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#ifndef PVH_H
#define PVH_H
#include "guest.h"

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;
	u32 memmap_entries;
	u32 reserved;
};

struct hvm_memmap_table_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
};

/* Value of "key=<decimal>" in the command line, or dflt. */
static inline u64 cmdline_u64(const struct hvm_start_info *si, const char *key, u64 dflt) {
	if (!si || si->magic != HVM_START_MAGIC || !si->cmdline_paddr)
		return dflt;
	const char *c = (const char *)si->cmdline_paddr;
	while (*c) {
		const char *k = key;
		const char *p = c;
		while (*k && *p == *k) {
			k++;
			p++;
		}
		if (!*k && *p == '=') {
			u64 v = 0;
			for (p++; *p >= '0' && *p <= '9'; p++)
				v = v * 10 + (u64)(*p - '0');
			return v;
		}
		while (*c && *c != ' ')
			c++;
		while (*c == ' ')
			c++;
	}
	return dflt;
}
#endif
