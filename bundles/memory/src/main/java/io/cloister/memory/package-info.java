/**
 * Guest-physical address spaces: memslots over host memory, immutable slot tables published
 * atomically.
 */
package io.cloister.memory;
