/**
 * AMD SEV-SNP: private by default, page-state changes through the GHCB, PVALIDATE before use (a
 * reverse map per VM), host reads refused.
 */
package io.cloister.backend.snp;
