/**
 * Restricted-memory files like guest_memfd: exclusive bindings indexed by file offset,
 * conversions, punch, accounting.
 */
package io.cloister.restrictedmem;
