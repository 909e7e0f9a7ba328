/**
 * Gogo shell commands (scope vmm) over the management API.
 */
package io.cloister.shell;
