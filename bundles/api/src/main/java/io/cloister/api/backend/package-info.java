/**
 * Inner circle: confidential-computing backend policies (plain, sev, snp, tdx, pkvm) — page
 * states, conversions, host access, CPU semantics ({@link io.cloister.api.backend.CocoCpu}) and
 * the guest requests that drive them. Only the VMM calls a policy.
 */
@Export
@Version("2.0.0")
package io.cloister.api.backend;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
