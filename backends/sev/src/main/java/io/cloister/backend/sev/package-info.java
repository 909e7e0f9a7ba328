/**
 * AMD SEV: private pages chosen by the guest (C-bit), conversions destroy content, the host reads
 * private pages as ciphertext.
 */
package io.cloister.backend.sev;
