package io.cloister.restrictedmem;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The baseline the seed warns about: every binding on one list, walked in full for each bind and
 * each conversion (memfd_restricted v10's notifier list). Kept only to measure the page index
 * against it in the same benchmark run.
 */
final class LinearIndex implements BindingIndex {
    private final List<BindingImpl> all = new ArrayList<>();

    @Override
    public BindingImpl anyOwner(long first, long end) {
        for (BindingImpl b : all) {
            if (b.firstPage() < end && first < b.endPage()) {
                return b;
            }
        }
        return null;
    }

    @Override
    public void forEachOwner(long first, long end, Consumer<BindingImpl> visitor) {
        for (BindingImpl b : all) {
            if (b.firstPage() < end && first < b.endPage()) {
                visitor.accept(b);
            }
        }
    }

    @Override
    public void add(BindingImpl binding) {
        all.add(binding);
    }

    @Override
    public void remove(BindingImpl binding) {
        all.remove(binding);
    }

    @Override
    public int size() {
        return all.size();
    }
}
