@Export
@Version("1.0.0")
package io.cloister.api.backend;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
