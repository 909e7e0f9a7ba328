package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import io.cloister.api.CloisterException;
import io.cloister.api.restricted.Binding;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.restrictedmem.RestrictedMemory;

/**
 * The real kernel's guest_memfd is the oracle for the restricted-memory provider: the same
 * sequence of binds (alias, partial overlap, past the end, unaligned), unbinds, rebinds and
 * punches gets the same accept/refuse answers and errnos from both. Skipped without /dev/kvm or
 * guest_memfd.
 */
class GuestMemfdDifferentialTest {
    static final long PAGE = 4096;
    static final long FILE = 16 * PAGE;

    /** The kernel side: one VM, one guest_memfd, memslots bound to it. */
    static final class Kernel implements AutoCloseable {
        final Arena arena = Arena.ofConfined();
        final KvmSystem kvm = KvmSystem.open();
        final VmFd vm = kvm.createVm();
        final MemorySegment shared = arena.allocate(FILE, PAGE);
        final int gmem;

        Kernel() {
            try {
                gmem = vm.createGuestMemfd(FILE, 0); // flags 0: private-only, as for a confidential VM
            } catch (Sys.SysException e) {
                vm.close();
                kvm.close();
                arena.close();
                throw e;
            }
        }

        /** KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD; 0 or the errno. */
        int bind(int slot, long gpa, long size, long offset) {
            try {
                vm.setUserMemoryRegion2(new VmFd.MemoryRegion2(slot, size == 0 ? 0 : Kvm.KVM_MEM_GUEST_MEMFD, gpa, size,
                        shared.address(), offset, gmem));
                return 0;
            } catch (Sys.SysException e) {
                return e.errno;
            }
        }

        int punch(long offset, long length) {
            return Sys.fallocate(gmem, Sys.FALLOC_FL_PUNCH_HOLE | Sys.FALLOC_FL_KEEP_SIZE, offset, length);
        }

        @Override
        public void close() {
            Sys.close(gmem);
            vm.close();
            kvm.close();
            arena.close();
        }
    }

    /** The Cloister side, answering in errnos. */
    static final class Ours {
        final RestrictedMemory provider = new RestrictedMemory();
        final RestrictedFile file = provider.create("vm", FILE, PageState.PRIVATE);
        final Map<Integer, Binding> slots = new HashMap<>();

        int bind(int slot, long gpa, long size, long offset) {
            try {
                if (size == 0) { // deleting the memslot
                    Binding b = slots.remove(slot);
                    if (b != null) {
                        b.unbind();
                    }
                    return 0;
                }
                slots.put(slot, file.bind("vm", slot, offset, gpa, size, null));
                return 0;
            } catch (CloisterException e) {
                return e.errno().code();
            }
        }

        int punch(long offset, long length) {
            try {
                file.punch(offset, length);
                return 0;
            } catch (CloisterException e) {
                return e.errno().code();
            }
        }
    }

    @Test
    void sameAnswersAsTheKernel() {
        String why = new KvmEngine().unavailableReason();
        assumeTrue(why == null, "KVM unavailable: " + why);
        Kernel kernel;
        try {
            kernel = new Kernel();
        } catch (Sys.SysException e) {
            assumeTrue(false, "no guest_memfd here: " + e.getMessage());
            return;
        }
        Ours ours = new Ours();
        List<String> steps = new ArrayList<>();
        try (kernel) {
            record Op(String what, int slot, long gpa, long size, long offset) {
            }
            Op[] ops = {
                new Op("bind slot 0 to pages 0-7", 0, 0x100000, 8 * PAGE, 0),
                new Op("alias: slot 1 on the same pages", 1, 0x200000, 8 * PAGE, 0),
                new Op("partial overlap", 2, 0x300000, 8 * PAGE, 4 * PAGE),
                new Op("one page inside", 3, 0x400000, PAGE, 7 * PAGE),
                new Op("adjacent: pages 8-11", 4, 0x500000, 4 * PAGE, 8 * PAGE),
                new Op("past the end of the file", 5, 0x600000, 8 * PAGE, 12 * PAGE),
                new Op("offset beyond the end", 6, 0x700000, PAGE, 16 * PAGE),
                new Op("unaligned offset", 7, 0x800000, PAGE, 12 * PAGE + 512),
                new Op("delete slot 0", 0, 0x100000, 0, 0),
                new Op("rebind pages 0-7 elsewhere", 8, 0x900000, 8 * PAGE, 0),
                new Op("the last pages", 9, 0xa00000, 4 * PAGE, 12 * PAGE),
            };
            for (Op op : ops) {
                int k = kernel.bind(op.slot, op.gpa, op.size, op.offset);
                int o = ours.bind(op.slot, op.gpa, op.size, op.offset);
                steps.add(String.format("%-28s kernel %-7s cloister %s", op.what, Sys.name(k), Sys.name(o)));
                assertEquals(Sys.name(k), Sys.name(o), op.what + "\n" + String.join("\n", steps));
            }
            long[][] punches = {{0, PAGE}, {2 * PAGE, 6 * PAGE}, {PAGE / 2, PAGE}, {14 * PAGE, 4 * PAGE}, {20 * PAGE, PAGE},
                {PAGE, PAGE + 1}, {3 * PAGE, 0}};
            for (long[] p : punches) {
                int k = kernel.punch(p[0], p[1]);
                int o = ours.punch(p[0], p[1]);
                steps.add(String.format("punch %-22s kernel %-7s cloister %s", p[0] + "+" + p[1], Sys.name(k), Sys.name(o)));
                assertEquals(Sys.name(k), Sys.name(o), "punch " + p[0] + "+" + p[1] + "\n" + String.join("\n", steps));
            }
        }
        System.out.println(String.join("\n", steps));
    }
}
