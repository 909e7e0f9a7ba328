/**
 * Test support: real guest memory for backend and engine tests, and where the test guests are.
 * Guests run on the VMM's own exit loop (io.cloister.vmm.StandaloneVm), not on a copy here.
 */
package io.cloister.testkit;
