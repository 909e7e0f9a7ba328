/**
 * Inner circle: guest-physical address spaces of memslots, the guest's own view for its CPU
 * engine ({@link io.cloister.api.memory.GuestView}) and memory control for policies
 * ({@link io.cloister.api.memory.GuestMemoryControl}). Held by the VMM, engines and policies only.
 */
@Export
@Version("2.0.0")
package io.cloister.api.memory;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
