/**
 * Outer circle: what third-party device bundles implement ({@link io.cloister.api.device.BusDevice},
 * one instance per VM) and receive (a {@link io.cloister.api.device.DeviceContext} with a
 * {@link io.cloister.api.device.DmaView} of shared memory). No type here leads to an inner package.
 */
@Export
@Version("2.2.0")
package io.cloister.api.device;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
