/** Firecracker's management API for Cloister: private implementation, nothing exported. */
package io.cloister.fcapi;
