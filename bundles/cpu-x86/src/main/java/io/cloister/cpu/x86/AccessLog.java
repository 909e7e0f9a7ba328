package io.cloister.cpu.x86;

/**
 * The device accesses of the instruction being run: MMIO and port reads with the VMM's answers,
 * and MMIO writes already reported. An instruction that needs an answer unwinds, the vCPU exits,
 * and the instruction runs again from its start once answered; on that run its earlier accesses
 * are taken from here instead of reaching the device again. So an instruction that needs several
 * answers (cmpsq between two MMIO addresses, a load crossing out of an MMIO page, code fetched
 * from MMIO, a page walk through it) completes after one exit per access, and each device access
 * happens once, as on hardware.
 *
 * The entries belong to one execution of one instruction, named by the count of instructions
 * retired before it and its rip: another instruction finds the log empty. A rerun consumes them
 * in order; it may skip some (a page walk the first run made is in the TLB now), so a lookup takes
 * the first unconsumed entry for the same access.
 */
final class AccessLog {
    static final int MMIO_READ = 0, MMIO_WRITE = 1, PORT_READ = 2;
    /** Far more than any instruction makes (a rep string's iterations each start afresh): beyond it, something loops. */
    static final int LIMIT = 4096;

    private long owner = -1;
    private long ownerRip;
    private long[] address = new long[16];
    private int[] kind = new int[16];
    private long[] value = new long[16];
    private boolean[] answered = new boolean[16];
    private int count;
    /** Entries before it were consumed by this run of the instruction. */
    private int next;

    /** The log of the instruction numbered {@code seq} at {@code rip}: empty if it belonged to another. */
    void own(long seq, long rip) {
        if (seq != owner || rip != ownerRip) {
            clear();
            owner = seq;
            ownerRip = rip;
        }
    }

    /** The instruction retired, faulted or was abandoned. */
    void clear() {
        count = 0;
        next = 0;
        owner = -1;
    }

    /** The instruction unwinds and will run again from its start: its accesses replay from the first. */
    void rewind() {
        next = 0;
    }

    /** Where a partial rerun (a locked instruction whose compare-and-set lost) starts consuming again. */
    int mark() {
        return next;
    }

    void rewindTo(int mark) {
        next = mark;
    }

    static int kind(int type, int size) {
        return type | size << 2;
    }

    /** The first unconsumed entry for this access, now consumed; -1 when it is new. */
    int find(long addr, int kind) {
        for (int i = next; i < count; i++) {
            if (address[i] == addr && this.kind[i] == kind) {
                next = i + 1;
                return i;
            }
        }
        return -1;
    }

    /** Records a new access (consumed by this run); a write counts as answered. -1 past {@link #LIMIT}. */
    int add(long addr, int kind) {
        if (count == LIMIT) {
            return -1;
        }
        if (count == address.length) {
            address = java.util.Arrays.copyOf(address, count * 2);
            this.kind = java.util.Arrays.copyOf(this.kind, count * 2);
            value = java.util.Arrays.copyOf(value, count * 2);
            answered = java.util.Arrays.copyOf(answered, count * 2);
        }
        address[count] = addr;
        this.kind[count] = kind;
        answered[count] = (kind & 3) == MMIO_WRITE;
        next = count + 1;
        return count++;
    }

    boolean answered(int i) {
        return answered[i];
    }

    long value(int i) {
        return value[i];
    }

    void answer(int i, long v) {
        if (i < count) {
            value[i] = v;
            answered[i] = true;
        }
    }
}
