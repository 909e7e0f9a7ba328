/**
 * Host memory mappings through FFM (mmap, madvise); compiled privately into the bundles that use
 * it.
 */
package io.cloister.internal.hostmem;
