/**
 * No confidential computing: every page shared, conversions refused.
 */
package io.cloister.backend.plain;
