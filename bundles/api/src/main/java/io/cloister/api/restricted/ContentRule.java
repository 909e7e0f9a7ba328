package io.cloister.api.restricted;

/** What a conversion does to the bytes of the pages it converts; the backend policy chooses. */
public enum ContentRule {
    /** Content stays in place (pKVM share/unshare). */
    PRESERVE,
    /** Pages read as zero afterwards (TDX, SNP, SEV re-encryption). */
    DESTROY
}
