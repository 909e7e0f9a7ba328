package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.cpu.Exit;

/**
 * Exits are decoded from, and answers written to, kvm_run where the kernel puts them: each test
 * fills a kvm_run mapping at the byte offsets of linux/kvm.h (written out here, not taken from the
 * layouts) as KVM would, and checks Cloister's exit and the bytes KVM would read back. No /dev/kvm
 * needed.
 */
class KvmExitsTest {
    static final long EXIT_REASON = 8;
    static final long U = 32; // the exit union
    static final long PIO_PAGE = 4096; // where KVM puts port IO data (data_offset)

    final Arena arena = Arena.ofConfined();
    final MemorySegment page = arena.allocate(3 * 4096, 4096);
    final KvmRun run = new KvmRun(page);
    final KvmExits exits = new KvmExits(run, () -> 0xfff0L);

    @AfterEach
    void free() {
        arena.close();
    }

    private Exit exit(int reason) {
        page.set(ValueLayout.JAVA_INT, EXIT_REASON, reason);
        return exits.exit(reason);
    }

    private void io(int direction, int size, int port, int count) {
        page.set(ValueLayout.JAVA_BYTE, U, (byte) direction);
        page.set(ValueLayout.JAVA_BYTE, U + 1, (byte) size);
        page.set(ValueLayout.JAVA_SHORT, U + 2, (short) port);
        page.set(ValueLayout.JAVA_INT, U + 4, count);
        page.set(ValueLayout.JAVA_LONG, U + 8, PIO_PAGE);
    }

    @Test
    void portOutCarriesItsData() {
        io(1, 1, 0x3f8, 1);
        page.set(ValueLayout.JAVA_BYTE, PIO_PAGE, (byte) 'A');
        assertEquals(new Exit.Io(0x3f8, 1, true, 'A'), exit(Kvm.KVM_EXIT_IO));
        io(1, 2, 0xfff0, 1); // a port above 0x7fff is not negative
        page.set(ValueLayout.JAVA_SHORT, PIO_PAGE, (short) 0xbeef);
        assertEquals(new Exit.Io(0xfff0, 2, true, 0xbeef), exit(Kvm.KVM_EXIT_IO));
    }

    @Test
    void portInIsAnsweredAtDataOffset() {
        io(0, 4, 0x60, 1);
        assertEquals(new Exit.Io(0x60, 4, false, 0), exit(Kvm.KVM_EXIT_IO));
        page.set(ValueLayout.JAVA_LONG, PIO_PAGE, -1L);
        exits.complete(0x12345678);
        assertEquals(0xffffffff12345678L, page.get(ValueLayout.JAVA_LONG, PIO_PAGE), "4 bytes written, no more");
    }

    @Test
    void stringPortIoIsRefused() {
        io(1, 1, 0x3f8, 5);
        assertEquals(new Exit.Failure("string port IO (count 5) at port 0x3f8"), exit(Kvm.KVM_EXIT_IO));
    }

    @Test
    void equalPortExitsAreOneObject() {
        io(0, 1, 0x64, 1);
        Exit first = exit(Kvm.KVM_EXIT_IO);
        exits.complete(0);
        assertSame(first, exit(Kvm.KVM_EXIT_IO), "port polling allocates nothing");
    }

    @Test
    void mmioWriteAndRead() {
        page.set(ValueLayout.JAVA_LONG, U, 0xfee000b0L);
        page.set(ValueLayout.JAVA_LONG, U + 8, 0x1122334455667788L);
        page.set(ValueLayout.JAVA_INT, U + 16, 4);
        page.set(ValueLayout.JAVA_BYTE, U + 20, (byte) 1);
        assertEquals(new Exit.Mmio(0xfee000b0L, 4, true, 0x55667788L), exit(Kvm.KVM_EXIT_MMIO));

        page.set(ValueLayout.JAVA_INT, U + 16, 2);
        page.set(ValueLayout.JAVA_BYTE, U + 20, (byte) 0);
        assertEquals(new Exit.Mmio(0xfee000b0L, 2, false, 0), exit(Kvm.KVM_EXIT_MMIO));
        exits.complete(0xabcd);
        assertEquals(0x112233445566abcdL, page.get(ValueLayout.JAVA_LONG, U + 8), "2 bytes of mmio.data answered");
    }

    @Test
    void hypercallArgumentsAndReturn() {
        page.set(ValueLayout.JAVA_LONG, U, 12); // KVM_HC_MAP_GPA_RANGE
        for (int i = 0; i < 6; i++) {
            page.set(ValueLayout.JAVA_LONG, U + 8 + 8 * i, 0x1000L * (i + 1));
        }
        assertEquals(new Exit.Hypercall(12, 0x1000, 0x2000, 0x3000, 0x4000), exit(Kvm.KVM_EXIT_HYPERCALL));
        exits.complete(-22);
        assertEquals(-22L, page.get(ValueLayout.JAVA_LONG, U + 56), "hypercall.ret, what the guest gets in rax");
    }

    @Test
    void memoryFaultSaysPrivateOrShared() {
        page.set(ValueLayout.JAVA_LONG, U, 1L << 3); // KVM_MEMORY_EXIT_FLAG_PRIVATE
        page.set(ValueLayout.JAVA_LONG, U + 8, 0x200000L);
        page.set(ValueLayout.JAVA_LONG, U + 16, 0x1000L);
        assertEquals(new Exit.MemoryFault(0x200000, 0x1000, true), exit(Kvm.KVM_EXIT_MEMORY_FAULT));
        page.set(ValueLayout.JAVA_LONG, U, 0);
        assertEquals(new Exit.MemoryFault(0x200000, 0x1000, false), exit(Kvm.KVM_EXIT_MEMORY_FAULT));
    }

    @Test
    void failuresNameWhatKvmSaid() {
        page.set(ValueLayout.JAVA_LONG, U, 0x80000021L);
        assertEquals(new Exit.Failure("KVM_EXIT_FAIL_ENTRY, hardware reason 0x80000021"), exit(Kvm.KVM_EXIT_FAIL_ENTRY));
        page.set(ValueLayout.JAVA_INT, U, 1);
        assertEquals(new Exit.Failure("KVM_EXIT_INTERNAL_ERROR, suberror 1 at rip 0xfff0"), exit(Kvm.KVM_EXIT_INTERNAL_ERROR));
        assertEquals(new Exit.Failure("unhandled KVM exit reason 24"), exit(Kvm.KVM_EXIT_SYSTEM_EVENT));
        assertEquals(new Exit.Shutdown("KVM_EXIT_SHUTDOWN (triple fault)"), exit(Kvm.KVM_EXIT_SHUTDOWN));
        assertEquals(new Exit.Halt(), exit(Kvm.KVM_EXIT_HLT));
        assertNull(exit(Kvm.KVM_EXIT_INTR), "a signal: enter the guest again");
    }

    @Test
    void immediateExitIsByteOne() {
        run.immediateExit(true);
        assertEquals(1, page.get(ValueLayout.JAVA_BYTE, 1));
        assertTrue(run.immediateExit());
        run.immediateExit(false);
        assertEquals(0, page.get(ValueLayout.JAVA_BYTE, 1));
    }

    @Test
    void aDataOffsetOutsideTheMappingIsRefused() {
        io(1, 1, 0x3f8, 1);
        page.set(ValueLayout.JAVA_LONG, U + 8, 3 * 4096L);
        assertThrows(IllegalStateException.class, () -> exit(Kvm.KVM_EXIT_IO));
    }

    @Test
    void aMappingSmallerThanKvmRunIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new KvmRun(arena.allocate(2048)));
    }
}
