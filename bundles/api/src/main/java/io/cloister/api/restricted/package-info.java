/**
 * Inner circle: restricted (private) memory files like Linux's guest_memfd, their exclusive
 * bindings indexed by file offset, conversions and invalidation. Held by the VMM and memory manager.
 */
@Export
@Version("1.1.0")
package io.cloister.api.restricted;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
