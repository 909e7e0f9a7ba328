/**
 * VMs from ConfigAdmin configurations: memory, backend, engine, vCPU threads, exit dispatch, safe
 * points.
 */
package io.cloister.vmm;
