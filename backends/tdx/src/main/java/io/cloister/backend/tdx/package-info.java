/**
 * Intel TDX: private by default, MapGPA with the shared bit, accept before use, alias layouts
 * (SMRAM, PAM) refused.
 */
package io.cloister.backend.tdx;
