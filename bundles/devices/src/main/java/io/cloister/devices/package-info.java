/**
 * The device bus (range index, fault and hang isolation) and the core devices: 16550A UART, isa-
 * debug-exit, HPET counter.
 */
package io.cloister.devices;
