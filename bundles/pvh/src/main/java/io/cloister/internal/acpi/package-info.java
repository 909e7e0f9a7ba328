/**
 * The ACPI tables of a VM and the AML of its DSDT; compiled privately into the bundles that use it.
 */
package io.cloister.internal.acpi;
