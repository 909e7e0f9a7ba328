package io.cloister.restrictedmem;

import java.util.function.Consumer;

/**
 * File offset (in pages) to the binding that owns it. Bindings never overlap, so each page has at
 * most one owner; a lookup visits only the bindings that cover the queried range.
 */
sealed interface BindingIndex permits RangeIndex, LinearIndex {
    /** Any binding owning a page of {@code [first, end)}, or null. */
    BindingImpl anyOwner(long first, long end);

    /** Calls {@code visitor} once for each binding owning a page of {@code [first, end)}. */
    void forEachOwner(long first, long end, Consumer<BindingImpl> visitor);

    void add(BindingImpl binding);

    void remove(BindingImpl binding);

    int size();
}
