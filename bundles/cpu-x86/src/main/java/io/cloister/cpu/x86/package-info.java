/**
 * The software x86-64 engine: interpreter, decoded-instruction cache with lazy flags, hot blocks
 * compiled to JVM bytecode.
 */
package io.cloister.cpu.x86;
