/**
 * Outer circle, shared by all: errors ({@link io.cloister.api.CloisterException} with an
 * {@link io.cloister.api.Errno}).
 */
@Export
@Version("1.0.0")
package io.cloister.api;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
