/**
 * Arm pKVM protected VMs: pages private from the start, MEM_SHARE/MEM_UNSHARE convert in place
 * (content kept); host reads of private pages refused.
 */
package io.cloister.backend.pkvm;
