package io.cloister.cpu.kvm;

import static io.cloister.cpu.kvm.KvmLayouts.KVM_DTABLE;
import static io.cloister.cpu.kvm.KvmLayouts.KVM_SEGMENT;
import static io.cloister.cpu.kvm.KvmLayouts.KVM_SREGS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.VarHandle;

/**
 * A struct kvm_sregs in native memory (zeroed when new): segment registers, GDTR/IDTR and control
 * registers, as KVM_GET_SREGS fills and KVM_SET_SREGS takes them. Freed by the garbage collector.
 */
final class Sregs {
    /** A struct kvm_segment: one segment register with its descriptor cache. */
    record Segment(long base, int limit, int selector, int type, boolean present, int dpl, boolean db, boolean s, boolean l,
            boolean g, boolean avl, boolean unusable) {
    }

    /** A struct kvm_dtable: GDTR or IDTR. */
    record Dtable(long base, int limit) {
    }

    /** The segment registers of kvm_sregs, by their field names. */
    enum Seg {
        CS, DS, ES, FS, GS, SS, TR, LDT;

        final long offset = KvmLayouts.offset(KVM_SREGS, name().toLowerCase(java.util.Locale.ROOT));
    }

    private static final VarHandle BASE = KvmLayouts.handle(KVM_SEGMENT, "base");
    private static final VarHandle LIMIT = KvmLayouts.handle(KVM_SEGMENT, "limit");
    private static final VarHandle SELECTOR = KvmLayouts.handle(KVM_SEGMENT, "selector");
    private static final VarHandle TYPE = KvmLayouts.handle(KVM_SEGMENT, "type");
    private static final VarHandle PRESENT = KvmLayouts.handle(KVM_SEGMENT, "present");
    private static final VarHandle DPL = KvmLayouts.handle(KVM_SEGMENT, "dpl");
    private static final VarHandle DB = KvmLayouts.handle(KVM_SEGMENT, "db");
    private static final VarHandle S = KvmLayouts.handle(KVM_SEGMENT, "s");
    private static final VarHandle L = KvmLayouts.handle(KVM_SEGMENT, "l");
    private static final VarHandle G = KvmLayouts.handle(KVM_SEGMENT, "g");
    private static final VarHandle AVL = KvmLayouts.handle(KVM_SEGMENT, "avl");
    private static final VarHandle UNUSABLE = KvmLayouts.handle(KVM_SEGMENT, "unusable");

    private static final VarHandle DT_BASE = KvmLayouts.handle(KVM_DTABLE, "base");
    private static final VarHandle DT_LIMIT = KvmLayouts.handle(KVM_DTABLE, "limit");
    private static final long GDT = KvmLayouts.offset(KVM_SREGS, "gdt");
    private static final long IDT = KvmLayouts.offset(KVM_SREGS, "idt");

    private static final VarHandle CR0 = KvmLayouts.handle(KVM_SREGS, "cr0");
    private static final VarHandle CR3 = KvmLayouts.handle(KVM_SREGS, "cr3");
    private static final VarHandle CR4 = KvmLayouts.handle(KVM_SREGS, "cr4");
    private static final VarHandle EFER = KvmLayouts.handle(KVM_SREGS, "efer");

    final MemorySegment segment = Arena.ofAuto().allocate(KVM_SREGS);

    Segment get(Seg which) {
        long o = which.offset;
        return new Segment((long) BASE.get(segment, o), (int) LIMIT.get(segment, o), (short) SELECTOR.get(segment, o) & 0xffff,
                b(TYPE, o), b(PRESENT, o) != 0, b(DPL, o), b(DB, o) != 0, b(S, o) != 0, b(L, o) != 0, b(G, o) != 0, b(AVL, o) != 0,
                b(UNUSABLE, o) != 0);
    }

    Sregs set(Seg which, Segment v) {
        long o = which.offset;
        BASE.set(segment, o, v.base());
        LIMIT.set(segment, o, v.limit());
        SELECTOR.set(segment, o, (short) v.selector());
        TYPE.set(segment, o, (byte) v.type());
        PRESENT.set(segment, o, bit(v.present()));
        DPL.set(segment, o, (byte) v.dpl());
        DB.set(segment, o, bit(v.db()));
        S.set(segment, o, bit(v.s()));
        L.set(segment, o, bit(v.l()));
        G.set(segment, o, bit(v.g()));
        AVL.set(segment, o, bit(v.avl()));
        UNUSABLE.set(segment, o, bit(v.unusable()));
        return this;
    }

    Dtable gdt() {
        return dtable(GDT);
    }

    Dtable idt() {
        return dtable(IDT);
    }

    private Dtable dtable(long o) {
        return new Dtable((long) DT_BASE.get(segment, o), (short) DT_LIMIT.get(segment, o) & 0xffff);
    }

    long cr0() {
        return (long) CR0.get(segment, 0L);
    }

    Sregs cr0(long v) {
        CR0.set(segment, 0L, v);
        return this;
    }

    long cr3() {
        return (long) CR3.get(segment, 0L);
    }

    Sregs cr3(long v) {
        CR3.set(segment, 0L, v);
        return this;
    }

    long cr4() {
        return (long) CR4.get(segment, 0L);
    }

    Sregs cr4(long v) {
        CR4.set(segment, 0L, v);
        return this;
    }

    long efer() {
        return (long) EFER.get(segment, 0L);
    }

    Sregs efer(long v) {
        EFER.set(segment, 0L, v);
        return this;
    }

    private int b(VarHandle field, long offset) {
        return (byte) field.get(segment, offset) & 0xff;
    }

    private static byte bit(boolean b) {
        return (byte) (b ? 1 : 0);
    }
}
