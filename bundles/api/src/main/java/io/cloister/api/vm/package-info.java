@Export
@Version("1.1.0")
package io.cloister.api.vm;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
