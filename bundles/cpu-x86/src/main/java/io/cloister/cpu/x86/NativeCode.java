package io.cloister.cpu.x86;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Executable host memory for native blocks ({@link NativeBlockCompiler}) and the one call into it.
 * One mapping, readable, writable and executable, made at first use and never unmapped; code is
 * appended and never freed (a dropped block's code stays), so the arena bounds how many native
 * blocks a process makes: once full, blocks are compiled to bytecode as before.
 *
 * <p>The call is a critical downcall (no thread-state transition, Java arrays passed by address):
 * {@code long code(long[] regs, long[] fast, long[] ctx, long[] jumps)}. Native code never calls out, never
 * blocks and returns within a bounded number of guest instructions, as a critical call must.
 */
final class NativeCode {
    /**
     * The arena's size: at about 2 KiB a block, some 120,000 blocks (a Linux boot makes about
     * 11,500). Reserved, not committed: only the pages code is written to take memory.
     */
    static final long ARENA = 256L << 20;

    private static final Linker LINKER = Linker.nativeLinker();
    /** code address, regs, fast, ctx, jumps -> next rip. */
    static final MethodHandle CALL = LINKER.downcallHandle(FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.ADDRESS,
            ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS), Linker.Option.critical(true));

    private static MemorySegment arena;
    private static volatile long used; // written under the class lock, read by room() without it
    private static volatile boolean failed;
    private static long exit;

    /**
     * The address of the shared return of a chain whose jump-table entry did not match (an empty
     * entry leads here): it returns as a block's exitHostFlags does, RAX the rip; 0 when there is
     * no arena. Every block's prologue pushes the same registers, so one return serves all.
     */
    static synchronized long exit() {
        if (exit == 0) {
            X64 a = new X64();
            NativeFrame.epilogue(a, null);
            MemorySegment at = install(a.bytes());
            exit = at == null ? 0 : at.address();
        }
        return exit;
    }

    private NativeCode() {
    }

    /** Whether this host can run native blocks: x86-64 Linux, where the JVM's own calling convention is SysV. */
    static boolean supported() {
        return "amd64".equals(System.getProperty("os.arch")) && System.getProperty("os.name", "").startsWith("Linux");
    }

    /**
     * Whether the arena may still take blocks: while it does, regions native code can start are
     * compiled early (DecodedPath.threshold); once full, at the bytecode threshold, as before.
     */
    static boolean room() {
        return !failed && used < ARENA - (1 << 20);
    }

    /** Copies {@code code} into the arena and returns where it starts, or null when the arena is full or cannot be made. */
    static synchronized MemorySegment install(byte[] code) {
        if (arena == null) {
            if (failed) {
                return null;
            }
            arena = map();
            if (arena == null) {
                failed = true;
                return null;
            }
        }
        long at = (used + 15) & ~15L;
        if (at + code.length > ARENA) {
            return null;
        }
        MemorySegment.copy(code, 0, arena, ValueLayout.JAVA_BYTE, at, code.length);
        used = at + code.length;
        return arena.asSlice(at, code.length);
    }

    private static MemorySegment map() {
        try {
            MethodHandle mmap = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            int protAll = 1 | 2 | 4; // PROT_READ | PROT_WRITE | PROT_EXEC
            int privateAnonymous = 0x02 | 0x20; // MAP_PRIVATE | MAP_ANONYMOUS
            MemorySegment m = (MemorySegment) mmap.invokeExact(MemorySegment.NULL, ARENA, protAll, privateAnonymous, -1, 0L);
            if (m.address() == -1L || m.address() == 0) {
                return null;
            }
            return m.reinterpret(ARENA);
        } catch (Throwable t) {
            return null;
        }
    }
}
