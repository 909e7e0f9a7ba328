package io.cloister.backend.snp;

import java.util.BitSet;

/**
 * The reverse map of one VM: every page has exactly one owner (this VM; exclusivity of the
 * backing pages is the restricted-memory provider's binding index) and a validated bit. Guarded
 * by the caller's lock on this object.
 */
final class Rmp {
    final String owner;
    private final BitSet validated = new BitSet();

    Rmp(String owner) {
        this.owner = owner;
    }

    boolean validated(long page) {
        synchronized (this) {
            return validated.get(Math.toIntExact(page));
        }
    }

    void setValidated(long page, boolean value) {
        validated.set(Math.toIntExact(page), value);
    }

    void clearValidated(long from, long to) {
        validated.clear(Math.toIntExact(from), Math.toIntExact(to));
    }
}
