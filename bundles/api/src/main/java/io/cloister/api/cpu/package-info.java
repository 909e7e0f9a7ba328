/**
 * Inner circle: CPU engines ({@link io.cloister.api.cpu.CpuEngine} → per-VM
 * {@link io.cloister.api.cpu.EngineVm} → {@link io.cloister.api.cpu.Vcpu}) and the exits a vCPU
 * returns to the VMM. Engines hold the guest's own view of memory; only the VMM talks to them.
 */
@Export
@Version("2.1.0")
package io.cloister.api.cpu;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
