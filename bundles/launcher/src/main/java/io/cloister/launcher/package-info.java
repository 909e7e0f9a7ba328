/**
 * bin/vmm: embeds Felix, reads a feature, installs and starts its bundles, applies configurations,
 * enforces the circles of trust.
 */
package io.cloister.launcher;
