package io.cloister.restrictedmem;

import java.util.function.Consumer;

/**
 * A two-level radix table from page to owning binding, like the kernel's xarray of pgoff to
 * memslot: O(1) to find the owner of a page whatever the number of bindings. Leaves of 512 pages
 * are allocated on first bind, so an unbound file costs one pointer per 2 MiB.
 */
final class PageIndex implements BindingIndex {
    private static final int LEAF_SHIFT = 9;
    private static final int LEAF_SIZE = 1 << LEAF_SHIFT;
    private static final int LEAF_MASK = LEAF_SIZE - 1;

    private final BindingImpl[][] leaves;
    private int size;

    PageIndex(long pages) {
        leaves = new BindingImpl[(int) ((pages + LEAF_SIZE - 1) >>> LEAF_SHIFT)][];
    }

    private BindingImpl owner(long page) {
        BindingImpl[] leaf = leaves[(int) (page >>> LEAF_SHIFT)];
        return leaf == null ? null : leaf[(int) (page & LEAF_MASK)];
    }

    @Override
    public BindingImpl anyOwner(long first, long end) {
        for (long p = first; p < end; ) {
            BindingImpl[] leaf = leaves[(int) (p >>> LEAF_SHIFT)];
            long leafEnd = Math.min(end, ((p >>> LEAF_SHIFT) + 1) << LEAF_SHIFT);
            if (leaf != null) {
                for (long q = p; q < leafEnd; q++) {
                    BindingImpl b = leaf[(int) (q & LEAF_MASK)];
                    if (b != null) {
                        return b;
                    }
                }
            }
            p = leafEnd;
        }
        return null;
    }

    @Override
    public void forEachOwner(long first, long end, Consumer<BindingImpl> visitor) {
        for (long p = first; p < end; ) {
            BindingImpl b = owner(p);
            if (b != null) {
                visitor.accept(b);
                p = b.endPage();
            } else if (leaves[(int) (p >>> LEAF_SHIFT)] == null) {
                p = ((p >>> LEAF_SHIFT) + 1) << LEAF_SHIFT;
            } else {
                p++;
            }
        }
    }

    @Override
    public void add(BindingImpl b) {
        for (long p = b.firstPage(); p < b.endPage(); p++) {
            int li = (int) (p >>> LEAF_SHIFT);
            BindingImpl[] leaf = leaves[li];
            if (leaf == null) {
                leaf = leaves[li] = new BindingImpl[LEAF_SIZE];
            }
            leaf[(int) (p & LEAF_MASK)] = b;
        }
        size++;
    }

    @Override
    public void remove(BindingImpl b) {
        for (long p = b.firstPage(); p < b.endPage(); p++) {
            leaves[(int) (p >>> LEAF_SHIFT)][(int) (p & LEAF_MASK)] = null;
        }
        size--;
    }

    @Override
    public int size() {
        return size;
    }
}
