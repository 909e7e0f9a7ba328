/**
 * The rules of a VM configuration and of a guest image file, in one place so that the launcher
 * (before the framework starts) and the vmm bundle (which compiles these sources in as a private
 * package) refuse the same things with the same one-line message. Not exported.
 */
package io.cloister.internal.vmconfig;
