/**
 * Outer circle: VMs for management clients (the shell, the REST API, tools) — state, counters,
 * commands and the memory map as plain data. No type here leads to an inner package.
 */
@Export
@Version("2.1.0")
package io.cloister.api.vm;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
