package io.cloister.api.restricted;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Told when pages of a binding change. Called synchronously, before the change is visible and
 * while no guest access through the file can proceed, so a holder of cached translations (an
 * engine's TLB, a device's DMA view) drops them here and sees the new state afterwards. Only the
 * bindings that cover the changed range are called.
 */
@FunctionalInterface
@ConsumerType
public interface InvalidationListener {
    InvalidationListener NONE = (binding, gpa, length, change) -> { };

    void invalidated(Binding binding, long gpa, long length, Change change);
}
