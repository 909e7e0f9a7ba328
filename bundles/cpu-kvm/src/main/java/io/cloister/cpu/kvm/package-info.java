/**
 * The KVM engine: /dev/kvm through FFM ioctls, one KVM VM per EngineVm, restricted RAM mirrored
 * into a real guest_memfd.
 */
package io.cloister.cpu.kvm;
