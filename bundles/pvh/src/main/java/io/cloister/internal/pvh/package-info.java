/**
 * The PVH ELF loader: places a guest image and its start_info; compiled privately into the bundles
 * that use it.
 */
package io.cloister.internal.pvh;
