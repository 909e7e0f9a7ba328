/**
 * The boot protocols: loaders that place a guest kernel and the boot information it reads;
 * compiled privately into the bundles that use it.
 */
package io.cloister.internal.boot;
