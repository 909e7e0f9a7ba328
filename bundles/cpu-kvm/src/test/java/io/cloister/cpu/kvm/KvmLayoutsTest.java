package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.StructLayout;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The layouts and ioctl numbers are those of linux/kvm.h on x86-64: first against the kernel's
 * numbers written down here, then (where gcc and the kernel headers are installed) against what
 * the C compiler makes of the headers themselves, field by field. Neither needs /dev/kvm.
 */
class KvmLayoutsTest {
    /** sizeof of each struct, from linux/kvm.h and asm/kvm.h (x86-64). */
    static final Map<StructLayout, Long> SIZES = new LinkedHashMap<>();

    static {
        SIZES.put(KvmLayouts.KVM_RUN, 2352L);
        SIZES.put(KvmLayouts.KVM_REGS, 144L);
        SIZES.put(KvmLayouts.KVM_SEGMENT, 24L);
        SIZES.put(KvmLayouts.KVM_DTABLE, 16L);
        SIZES.put(KvmLayouts.KVM_SREGS, 312L);
        SIZES.put(KvmLayouts.KVM_CPUID_ENTRY2, 40L);
        SIZES.put(KvmLayouts.KVM_CPUID2, 8L);
        SIZES.put(KvmLayouts.KVM_ENABLE_CAP, 104L);
        SIZES.put(KvmLayouts.KVM_USERSPACE_MEMORY_REGION2, 160L);
        SIZES.put(KvmLayouts.KVM_CREATE_GUEST_MEMFD, 64L);
        SIZES.put(KvmLayouts.FAIL_ENTRY, 16L);
        SIZES.put(KvmLayouts.IO, 16L);
        SIZES.put(KvmLayouts.MMIO, 24L);
        SIZES.put(KvmLayouts.HYPERCALL, 72L);
        SIZES.put(KvmLayouts.INTERNAL, 136L);
        SIZES.put(KvmLayouts.MEMORY_FAULT, 24L);
        SIZES.put(Sys.SIGACTION, 152L);
    }

    @Test
    void sizesAreTheKernels() {
        SIZES.forEach((layout, size) -> assertEquals(size, layout.byteSize(), layout.name().orElseThrow()));
        assertEquals(256, KvmLayouts.KVM_RUN_EXIT.byteSize(), "kvm_run's exit union");
    }

    /** Offsets Cloister reads or writes, as the kernel lays them out. */
    @Test
    void offsetsAreTheKernels() {
        StructLayout run = KvmLayouts.KVM_RUN;
        String x = KvmLayouts.EXIT;
        assertEquals(1, KvmLayouts.offset(run, "immediate_exit"));
        assertEquals(8, KvmLayouts.offset(run, "exit_reason"));
        assertEquals(32, KvmLayouts.offset(run, x));
        assertEquals(33, KvmLayouts.offset(run, x, "io", "size"));
        assertEquals(34, KvmLayouts.offset(run, x, "io", "port"));
        assertEquals(36, KvmLayouts.offset(run, x, "io", "count"));
        assertEquals(40, KvmLayouts.offset(run, x, "io", "data_offset"));
        assertEquals(32, KvmLayouts.offset(run, x, "mmio", "phys_addr"));
        assertEquals(40, KvmLayouts.offset(run, x, "mmio", "data"));
        assertEquals(48, KvmLayouts.offset(run, x, "mmio", "len"));
        assertEquals(52, KvmLayouts.offset(run, x, "mmio", "is_write"));
        assertEquals(40, KvmLayouts.offset(run, x, "hypercall", "args"));
        assertEquals(88, KvmLayouts.offset(run, x, "hypercall", "ret"));
        assertEquals(96, KvmLayouts.offset(run, x, "hypercall", "longmode"));
        assertEquals(40, KvmLayouts.offset(run, x, "memory_fault", "gpa"));
        assertEquals(48, KvmLayouts.offset(run, x, "memory_fault", "size"));
        assertEquals(32, KvmLayouts.offset(run, x, "internal", "suberror"));
        assertEquals(40, KvmLayouts.offset(run, x, "internal", "data"));
        assertEquals(288, KvmLayouts.offset(run, "kvm_valid_regs"));
        assertEquals(304, KvmLayouts.offset(run, "s"));

        assertEquals(128, KvmLayouts.offset(KvmLayouts.KVM_REGS, "rip"));
        assertEquals(136, KvmLayouts.offset(KvmLayouts.KVM_REGS, "rflags"));
        StructLayout sregs = KvmLayouts.KVM_SREGS;
        assertEquals(144, KvmLayouts.offset(sregs, "tr"));
        assertEquals(168, KvmLayouts.offset(sregs, "ldt"));
        assertEquals(192, KvmLayouts.offset(sregs, "gdt"));
        assertEquals(208, KvmLayouts.offset(sregs, "idt"));
        assertEquals(224, KvmLayouts.offset(sregs, "cr0"));
        assertEquals(240, KvmLayouts.offset(sregs, "cr3"));
        assertEquals(248, KvmLayouts.offset(sregs, "cr4"));
        assertEquals(264, KvmLayouts.offset(sregs, "efer"));
        assertEquals(280, KvmLayouts.offset(sregs, "interrupt_bitmap"));
        assertEquals(14, KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "type"));
        assertEquals(22, KvmLayouts.offset(KvmLayouts.KVM_SEGMENT, "unusable"));
        assertEquals(8, KvmLayouts.offset(KvmLayouts.KVM_CPUID2, "entries"));
        assertEquals(8 + 3 * 40, KvmLayouts.kvmCpuid2(3).byteSize());
        assertEquals(8, KvmLayouts.offset(KvmLayouts.KVM_ENABLE_CAP, "args"));
        assertEquals(32, KvmLayouts.offset(KvmLayouts.KVM_USERSPACE_MEMORY_REGION2, "guest_memfd_offset"));
        assertEquals(40, KvmLayouts.offset(KvmLayouts.KVM_USERSPACE_MEMORY_REGION2, "guest_memfd"));
        assertEquals(8, KvmLayouts.offset(KvmLayouts.KVM_CREATE_GUEST_MEMFD, "flags"));
    }

    /** The numbers linux/kvm.h defines (as the engine hard-coded them before they were computed). */
    @Test
    void ioctlNumbersAreTheKernels() {
        Map<Kvm.Ioctl, Long> known = new LinkedHashMap<>();
        known.put(Kvm.Ioctl.KVM_GET_API_VERSION, 0xAE00L);
        known.put(Kvm.Ioctl.KVM_CREATE_VM, 0xAE01L);
        known.put(Kvm.Ioctl.KVM_CHECK_EXTENSION, 0xAE03L);
        known.put(Kvm.Ioctl.KVM_GET_VCPU_MMAP_SIZE, 0xAE04L);
        known.put(Kvm.Ioctl.KVM_GET_SUPPORTED_CPUID, 0xC008AE05L);
        known.put(Kvm.Ioctl.KVM_CREATE_VCPU, 0xAE41L);
        known.put(Kvm.Ioctl.KVM_SET_TSS_ADDR, 0xAE47L);
        known.put(Kvm.Ioctl.KVM_SET_USER_MEMORY_REGION2, 0x40A0AE49L);
        known.put(Kvm.Ioctl.KVM_RUN, 0xAE80L);
        known.put(Kvm.Ioctl.KVM_GET_REGS, 0x8090AE81L);
        known.put(Kvm.Ioctl.KVM_SET_REGS, 0x4090AE82L);
        known.put(Kvm.Ioctl.KVM_GET_SREGS, 0x8138AE83L);
        known.put(Kvm.Ioctl.KVM_SET_SREGS, 0x4138AE84L);
        known.put(Kvm.Ioctl.KVM_SET_CPUID2, 0x4008AE90L);
        known.put(Kvm.Ioctl.KVM_ENABLE_CAP, 0x4068AEA3L);
        known.put(Kvm.Ioctl.KVM_CREATE_GUEST_MEMFD, 0xC040AED4L);
        assertEquals(Kvm.Ioctl.values().length, known.size(), "every ioctl has its number here");
        known.forEach((ioctl, number) -> assertEquals(Long.toHexString(number), Long.toHexString(ioctl.number), ioctl.name()));
    }

    @Test
    void aStructTooLargeForTheSizeFieldHasNoIoctlNumber() {
        assertThrows(IllegalArgumentException.class, () -> Kvm.ioc(Kvm.Dir.IOW, 0x01, 1 << 14));
        assertEquals(0x4001AE02L, Kvm.ioc(Kvm.Dir.IOW, 0x02, 1));
    }

    // --- against the C compiler and the installed headers ---

    /** One thing to compare: the C expression and the value the Java side has for it. */
    record Check(String key, String expression, long java) {
    }

    /** A group of checks the header may lack (guard: a macro only a header that has them defines). */
    record Group(String name, String guard, List<Check> checks) {
    }

    /** Struct members that the installed header may not have yet, by C designator: their guard. */
    static final Map<String, String> MEMBER_GUARDS = Map.of("memory_fault", "KVM_EXIT_MEMORY_FAULT");

    /** Structs that the installed header may not have yet: their guard. */
    static final Map<String, String> STRUCT_GUARDS = Map.of(
            "kvm_userspace_memory_region2", "KVM_SET_USER_MEMORY_REGION2",
            "kvm_create_guest_memfd", "KVM_CREATE_GUEST_MEMFD");

    static List<Group> groups() throws IllegalAccessException {
        List<Group> groups = new ArrayList<>();
        for (StructLayout s : List.of(KvmLayouts.KVM_RUN, KvmLayouts.KVM_REGS, KvmLayouts.KVM_SEGMENT, KvmLayouts.KVM_DTABLE,
                KvmLayouts.KVM_SREGS, KvmLayouts.KVM_CPUID_ENTRY2, KvmLayouts.KVM_CPUID2, KvmLayouts.KVM_ENABLE_CAP,
                KvmLayouts.KVM_USERSPACE_MEMORY_REGION2, KvmLayouts.KVM_CREATE_GUEST_MEMFD, Sys.SIGACTION)) {
            String name = s.name().orElseThrow();
            Map<String, List<Check>> byGuard = new LinkedHashMap<>();
            byGuard.computeIfAbsent(STRUCT_GUARDS.get(name), g -> new ArrayList<>())
                    .add(new Check("sizeof " + name, "sizeof(struct " + name + ")", s.byteSize()));
            members(name, s, "", 0, STRUCT_GUARDS.get(name), byGuard);
            byGuard.forEach((guard, checks) -> groups.add(new Group(
                    "struct " + name + (guard == null || guard.equals(STRUCT_GUARDS.get(name)) ? "" : " (" + guard + ")"), guard, checks)));
        }
        List<Check> ioctls = new ArrayList<>();
        for (Kvm.Ioctl i : Kvm.Ioctl.values()) {
            ioctls.add(new Check(i.name(), i.name(), i.number));
        }
        for (Kvm.Cap c : Kvm.Cap.values()) {
            ioctls.add(new Check(c.name(), c.name(), c.number));
        }
        for (Field f : Kvm.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getName().startsWith("KVM") && f.getType().isPrimitive()) {
                ioctls.add(new Check(f.getName(), f.getName(), ((Number) f.get(null)).longValue()));
            }
        }
        // each constant guarded by itself: a header that lacks one skips only that group
        Map<Boolean, List<Check>> split = new LinkedHashMap<>();
        for (Check c : ioctls) {
            boolean newer = c.key().contains("MEMORY_REGION2") || c.key().contains("GUEST_MEMFD") || c.key().contains("MEMORY_ATTRIBUTES")
                    || c.key().contains("USER_MEMORY2") || c.key().contains("MEMORY_FAULT") || c.key().contains("MEMORY_EXIT");
            split.computeIfAbsent(newer, k -> new ArrayList<>()).add(c);
        }
        groups.add(new Group("ioctl numbers, capabilities and constants", null, split.get(false)));
        groups.add(new Group("ioctl numbers and constants of guest_memfd and memory attributes", "KVM_CREATE_GUEST_MEMFD", split.get(true)));
        return groups;
    }

    /** Every named member of {@code layout} (recursively through structs and unions), with offset and size. */
    private static void members(String struct, GroupLayout layout, String prefix, long base, String guard,
            Map<String, List<Check>> byGuard) {
        for (MemoryLayout m : layout.memberLayouts()) {
            if (m instanceof PaddingLayout || m.name().isEmpty()) {
                continue;
            }
            long offset = base + layout.byteOffset(MemoryLayout.PathElement.groupElement(m.name().get()));
            boolean anonymous = layout == KvmLayouts.KVM_RUN && m.name().get().equals(KvmLayouts.EXIT);
            if (anonymous) { // C's anonymous union: its members are reached directly
                members(struct, (GroupLayout) m, prefix, offset, guard, byGuard);
                continue;
            }
            String designator = prefix + m.name().get();
            String g = MEMBER_GUARDS.getOrDefault(designator, guard);
            List<Check> checks = byGuard.computeIfAbsent(g, k -> new ArrayList<>());
            checks.add(new Check("offsetof " + struct + "." + designator, "offsetof(struct " + struct + ", " + designator + ")", offset));
            if (!(m instanceof SequenceLayout seq && seq.elementCount() == 0)) { // C has no sizeof of a flexible array
                checks.add(new Check("sizeof " + struct + "." + designator, "sizeof(((struct " + struct + " *) 0)->" + designator + ")",
                        m.byteSize()));
            }
            if (m instanceof GroupLayout inner) {
                members(struct, inner, designator + ".", offset, g, byGuard);
            }
        }
    }

    @TestFactory
    Stream<DynamicTest> sameAsTheCCompilerSaysOfTheInstalledHeaders() throws Exception {
        List<Group> groups = groups();
        Map<String, Long> c = compileAndRun(groups);
        return groups.stream().map(g -> DynamicTest.dynamicTest(g.name(), () -> {
            assumeTrue(c != null, "gcc or the kernel headers (linux/kvm.h) are not installed: compared with the numbers above only");
            assumeTrue(g.guard() == null || c.containsKey("defined " + g.guard()),
                    "the installed linux/kvm.h predates " + g.guard() + ": " + g.name() + " compared with the numbers above only");
            List<String> wrong = new ArrayList<>();
            for (Check check : g.checks()) {
                Long cValue = c.get(check.key());
                if (cValue == null || cValue != check.java()) {
                    wrong.add(check.key() + ": C " + cValue + ", Java " + check.java());
                }
            }
            assertTrue(wrong.isEmpty(), String.join("\n", wrong));
        }));
    }

    /** The C program's answers by key, or null without gcc or headers. */
    private static Map<String, Long> compileAndRun(List<Group> groups) throws IOException, InterruptedException {
        if (!Files.exists(Path.of("/usr/include/linux/kvm.h"))) {
            return null;
        }
        StringBuilder src = new StringBuilder("""
                #include <stddef.h>
                #include <stdio.h>
                #include <signal.h>
                #include <linux/kvm.h>
                #include <linux/kvm_para.h>
                int main(void) {
                """);
        for (Group g : groups) {
            if (g.guard() != null) {
                src.append("#ifdef ").append(g.guard()).append('\n');
                src.append("    printf(\"defined ").append(g.guard()).append(" 1\\n\");\n");
            }
            for (Check check : g.checks()) {
                src.append("    printf(\"").append(check.key()).append(" %lld\\n\", (long long) (").append(check.expression()).append("));\n");
            }
            if (g.guard() != null) {
                src.append("#endif\n");
            }
        }
        src.append("    return 0;\n}\n");
        Path dir = Files.createTempDirectory("kvm-layouts");
        Path c = dir.resolve("layouts.c");
        Path exe = dir.resolve("layouts");
        Files.writeString(c, src);
        Process cc;
        try {
            cc = new ProcessBuilder("gcc", "-o", exe.toString(), c.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return null; // no gcc
        }
        String ccOut = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(cc.waitFor(60, TimeUnit.SECONDS) && cc.exitValue() == 0, "gcc failed on " + c + ":\n" + ccOut);
        Process run = new ProcessBuilder(exe.toString()).redirectErrorStream(true).start();
        String out = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(run.waitFor(60, TimeUnit.SECONDS) && run.exitValue() == 0, out);
        Map<String, Long> values = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int sp = line.lastIndexOf(' ');
            values.put(line.substring(0, sp), Long.parseLong(line.substring(sp + 1)));
        }
        return values;
    }
}
