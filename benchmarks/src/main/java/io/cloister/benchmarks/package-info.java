/**
 * Benchmarks and harnesses; each compares with a baseline measured in the same run and writes to
 * benchmarks/results/.
 */
package io.cloister.benchmarks;
