/**
 * Inner circle: a VM's port-IO and MMIO buses, made by the devices bundle for the VMM. Device
 * bundles never see a bus; they get a {@link io.cloister.api.device.DeviceContext}.
 */
@Export
@Version("1.0.0")
package io.cloister.api.bus;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
