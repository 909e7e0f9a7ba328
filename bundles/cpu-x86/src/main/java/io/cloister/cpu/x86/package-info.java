/**
 * The software x86-64 engine: interpreter, decoded-instruction cache with lazy flags, hot blocks
 * compiled to JVM bytecode. One vCPU ({@code X86Vcpu}) is a chain of package-private classes,
 * one concern each, from {@code CpuState} (architectural state) through {@code Memory},
 * {@code Alu}, {@code Operands}, {@code Exceptions}, {@code ControlFlow}, {@code Strings},
 * {@code CocoInsns}, {@code SystemInsns}, {@code Interpreter} and {@code DecodedPath}.
 */
package io.cloister.cpu.x86;
