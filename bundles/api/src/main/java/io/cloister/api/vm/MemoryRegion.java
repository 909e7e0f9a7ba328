package io.cloister.api.vm;

/**
 * One memslot of a VM's memory map, as management sees it: where it is and what backs it, as
 * text ("restricted", "anonymous", "alias of slot 0 +0xa0000") — a description, not a handle.
 */
public record MemoryRegion(int slot, long gpa, long size, String kind, boolean readOnly, String backing) {
    public long end() {
        return gpa + size;
    }
}
