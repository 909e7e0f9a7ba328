package io.cloister.cpu.kvm;

import static io.cloister.cpu.kvm.KvmLayouts.KVM_CPUID_ENTRY2;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * A struct kvm_cpuid2 with room for a number of entries, in native memory: what
 * KVM_GET_SUPPORTED_CPUID fills (it lowers nent to the entries it wrote) and KVM_SET_CPUID2 takes.
 * Freed by the garbage collector.
 */
final class Cpuid {
    /** A struct kvm_cpuid_entry2: the registers CPUID returns for a leaf (function) and subleaf (index). */
    record Entry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    }

    private static final VarHandle NENT = KvmLayouts.handle(KvmLayouts.KVM_CPUID2, "nent");
    private static final long ENTRIES = KvmLayouts.offset(KvmLayouts.KVM_CPUID2, "entries");
    private static final VarHandle FUNCTION = KvmLayouts.handle(KVM_CPUID_ENTRY2, "function");
    private static final VarHandle INDEX = KvmLayouts.handle(KVM_CPUID_ENTRY2, "index");
    private static final VarHandle FLAGS = KvmLayouts.handle(KVM_CPUID_ENTRY2, "flags");
    private static final VarHandle EAX = KvmLayouts.handle(KVM_CPUID_ENTRY2, "eax");
    private static final VarHandle EBX = KvmLayouts.handle(KVM_CPUID_ENTRY2, "ebx");
    private static final VarHandle ECX = KvmLayouts.handle(KVM_CPUID_ENTRY2, "ecx");
    private static final VarHandle EDX = KvmLayouts.handle(KVM_CPUID_ENTRY2, "edx");

    final MemorySegment segment;
    private final int capacity;

    /** Room for {@code capacity} entries, nent saying all of them (as KVM_GET_SUPPORTED_CPUID wants). */
    Cpuid(int capacity) {
        this.capacity = capacity;
        segment = Arena.ofAuto().allocate(KvmLayouts.kvmCpuid2(capacity));
        NENT.set(segment, 0L, capacity);
    }

    /** The number of entries in use. */
    int nent() {
        return (int) NENT.get(segment, 0L);
    }

    Entry entry(int i) {
        long o = offset(i);
        return new Entry((int) FUNCTION.get(segment, o), (int) INDEX.get(segment, o), (int) FLAGS.get(segment, o),
                (int) EAX.get(segment, o), (int) EBX.get(segment, o), (int) ECX.get(segment, o), (int) EDX.get(segment, o));
    }

    /** Sets entry i (and makes nent cover it). */
    Cpuid set(int i, Entry e) {
        long o = offset(i);
        FUNCTION.set(segment, o, e.function());
        INDEX.set(segment, o, e.index());
        FLAGS.set(segment, o, e.flags());
        EAX.set(segment, o, e.eax());
        EBX.set(segment, o, e.ebx());
        ECX.set(segment, o, e.ecx());
        EDX.set(segment, o, e.edx());
        NENT.set(segment, 0L, Math.max(nent(), i + 1));
        return this;
    }

    List<Entry> entries() {
        List<Entry> list = new ArrayList<>();
        for (int i = 0; i < nent(); i++) {
            list.add(entry(i));
        }
        return list;
    }

    private long offset(int i) {
        if (i < 0 || i >= capacity) {
            throw new IndexOutOfBoundsException("cpuid entry " + i + " of " + capacity);
        }
        return ENTRIES + i * KVM_CPUID_ENTRY2.byteSize();
    }
}
