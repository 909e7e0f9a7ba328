package io.cloister.cpu.kvm;

import static io.cloister.cpu.kvm.KvmLayouts.KVM_REGS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A struct kvm_regs in native memory (zeroed when new): what KVM_GET_REGS fills and KVM_SET_REGS
 * takes. Freed by the garbage collector.
 */
final class Regs {
    private static final VarHandle RAX = KvmLayouts.handle(KVM_REGS, "rax");
    private static final VarHandle RBX = KvmLayouts.handle(KVM_REGS, "rbx");
    private static final VarHandle RIP = KvmLayouts.handle(KVM_REGS, "rip");
    private static final VarHandle RFLAGS = KvmLayouts.handle(KVM_REGS, "rflags");

    final MemorySegment segment = Arena.ofAuto().allocate(KVM_REGS);

    long rax() {
        return (long) RAX.get(segment, 0L);
    }

    Regs rax(long v) {
        RAX.set(segment, 0L, v);
        return this;
    }

    long rbx() {
        return (long) RBX.get(segment, 0L);
    }

    Regs rbx(long v) {
        RBX.set(segment, 0L, v);
        return this;
    }

    long rip() {
        return (long) RIP.get(segment, 0L);
    }

    Regs rip(long v) {
        RIP.set(segment, 0L, v);
        return this;
    }

    long rflags() {
        return (long) RFLAGS.get(segment, 0L);
    }

    Regs rflags(long v) {
        RFLAGS.set(segment, 0L, v);
        return this;
    }

    /** Every register by its kvm_regs name (rax ... r15, rip, rflags), in the struct's order. */
    Map<String, Long> asMap() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (MemoryLayout field : KVM_REGS.memberLayouts()) {
            String name = field.name().orElseThrow();
            m.put(name, segment.get(java.lang.foreign.ValueLayout.JAVA_LONG, KvmLayouts.offset(KVM_REGS, name)));
        }
        return m;
    }
}
