package io.cloister.api.backend;

/** What the host (devices, shell, dumps) gets when it reads a private page. */
public enum HostAccess {
    /** Refused with EACCES (TDX, SNP, pKVM: a fault in hardware). */
    DENY,
    /** Ciphertext under the VM's key, never the plaintext (SEV without SNP). */
    CIPHERTEXT
}
