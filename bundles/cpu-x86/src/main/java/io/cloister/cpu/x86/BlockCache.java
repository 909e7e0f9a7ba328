package io.cloister.cpu.x86;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Compiled blocks shared by the vCPUs of the process, found by the bytes they were compiled from.
 * A block's class is a function of its instructions' bytes and the code size alone (it takes the
 * vCPU, its registers and rip as arguments and holds nothing else), so the same code run by
 * another vCPU, or by a later VM of the same guest in this process, reuses the class and the JIT's
 * code for it instead of compiling both again: a block reaches the JIT's second tier only some
 * hundreds of milliseconds after its class is defined.
 * <p>
 * Keys are made from the compiler thread's private copy of the page, the same bytes the block is
 * compiled from, so a guest writing its code meanwhile cannot file a block under bytes it does
 * not do. What one guest can learn from another through the cache is timing: whether a block of
 * the same bytes was compiled already (a side channel between guests, which docs/threat-model.md
 * leaves out of scope; {@code vmm run} runs one VM per process). {@code -Dcloister.x86.blocksPerVm=true}
 * keeps each VM's blocks to its own vCPUs. The cache holds at most {@link #MAX} blocks and starts
 * again empty when full (blocks in use stay with the vCPUs that installed them).
 */
final class BlockCache {
    /** The domain of every VM's vCPUs, unless {@link #PER_VM}. */
    static final Object SHARED = new Object();
    /** Blocks shared only by the vCPUs of one VM (its CodeMap's domain). */
    static final boolean PER_VM = Boolean.getBoolean("cloister.x86.blocksPerVm");
    /**
     * A Linux boot compiles about 700 blocks. Each cached block keeps its class and its JIT code
     * alive (some KB of the code cache each), where blocks of an ended VM were unloaded before:
     * the bound keeps a long-lived process with many different guests well inside the code cache.
     */
    static final int MAX = 4_096;

    private record Key(Object domain, boolean code64, String bytes) {
    }

    private static final ConcurrentHashMap<Key, Block> BLOCKS = new ConcurrentHashMap<>();
    private static final AtomicLong HITS = new AtomicLong();

    private BlockCache() {
    }

    /**
     * The block at {@code off} of {@code page} (a private copy), from the cache or compiled and
     * added; null when its first instruction cannot be compiled.
     */
    static Block compile(byte[] page, int off, boolean code64, Object domain) {
        Region region = Region.decode(MemorySegment.ofArray(page), off, code64, BlockCompiler.MAX);
        if (region.insns().isEmpty()) {
            return null;
        }
        // The region's span decides what its block does: instructions are taken from it alone.
        Key key = new Key(domain, code64, new String(page, off, region.span(), StandardCharsets.ISO_8859_1));
        Block b = BLOCKS.get(key);
        if (b != null) {
            HITS.incrementAndGet();
            return b;
        }
        b = BlockCompiler.compile(region, code64);
        if (BLOCKS.size() >= MAX) {
            BLOCKS.clear();
        }
        Block raced = BLOCKS.putIfAbsent(key, b);
        return raced != null ? raced : b;
    }

    /** Blocks found already compiled, since the process started. */
    static long hits() {
        return HITS.get();
    }
}
