package io.cloister.restrictedmem;

import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;

/**
 * File offset to owning binding, like the kernel's xarray of pgoff to memslot: bindings never
 * overlap, so they are kept sorted by first page and the owner of any page is the binding
 * starting at or before it. A lookup costs O(log n) in the number of bindings whatever the size
 * of the file, and the index costs one entry per binding: a binding of a TiB costs what a binding
 * of a page does (a table of owners per page cost 2 KiB per bound 2 MiB, over 1 GiB for a TiB).
 */
final class RangeIndex implements BindingIndex {
    private final TreeMap<Long, BindingImpl> byFirstPage = new TreeMap<>();

    /** The first binding owning a page at or after {@code first}, or null. */
    private Map.Entry<Long, BindingImpl> firstFrom(long first) {
        Map.Entry<Long, BindingImpl> e = byFirstPage.floorEntry(first);
        return e != null && e.getValue().endPage() > first ? e : byFirstPage.higherEntry(first);
    }

    @Override
    public BindingImpl anyOwner(long first, long end) {
        Map.Entry<Long, BindingImpl> e = firstFrom(first);
        return e != null && e.getKey() < end ? e.getValue() : null;
    }

    /** Steps from entry to entry, so a visitor may unbind (change the index) as it goes. */
    @Override
    public void forEachOwner(long first, long end, Consumer<BindingImpl> visitor) {
        Map.Entry<Long, BindingImpl> e = firstFrom(first);
        while (e != null && e.getKey() < end) {
            visitor.accept(e.getValue());
            e = byFirstPage.higherEntry(e.getKey());
        }
    }

    @Override
    public void add(BindingImpl b) {
        byFirstPage.put(b.firstPage(), b);
    }

    @Override
    public void remove(BindingImpl b) {
        byFirstPage.remove(b.firstPage(), b);
    }

    @Override
    public int size() {
        return byFirstPage.size();
    }
}
