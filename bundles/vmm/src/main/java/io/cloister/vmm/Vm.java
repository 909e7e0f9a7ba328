package io.cloister.vmm;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;

/**
 * A VM: its memory (RAM is one restricted-memory file, so any backend can adopt it), its backend
 * policy and its safe point.
 *
 * Invariants: the VM runs (its gate is open) only with a policy; the policy changes only while
 * the gate is closed, i.e. with no guest request in flight; a refused change leaves the old
 * policy in place, or, if that policy is gone, the VM paused with the reason in its status.
 * Control operations are serialised by this object's monitor.
 */
final class Vm implements VirtualMachine {
    private static final Logger LOG = LoggerFactory.getLogger(Vm.class);
    static final long SMRAM_BASE = 0xfeda0000L;
    static final long SMRAM_SIZE = 0x20000;
    static final long SMRAM_RAM_OFFSET = 0xa0000;

    /** What the configuration asks for. */
    record Spec(String name, long memory, String backend, String engine, boolean smm, boolean autostart) {
    }

    private final Spec spec;
    private final MemoryManager memoryManager;
    private final RestrictedMemoryProvider restrictedMemory;
    private final Gate gate = new Gate();
    private final SwapStats swaps = new SwapStats();

    private volatile VmState state = VmState.CREATED;
    private volatile String status;
    private volatile String backendName;
    /** Read by guest requests inside the gate; written only with the gate closed. */
    private volatile Backend backend;
    private RestrictedFile ram;
    private GuestMemory memory;
    private GuestView view;
    private List<SlotSpec> layout;
    /** Whether to run again once a policy takes the VM (it was running, or is to autostart). */
    private boolean runWhenAdopted;

    Vm(Spec spec, MemoryManager memoryManager, RestrictedMemoryProvider restrictedMemory) {
        this.spec = spec;
        this.memoryManager = memoryManager;
        this.restrictedMemory = restrictedMemory;
        this.backendName = spec.backend();
        this.runWhenAdopted = spec.autostart();
        this.status = "waiting for backend '" + spec.backend() + "'";
    }

    static long parseSize(String text) {
        String t = text.trim().toUpperCase(Locale.ROOT);
        long unit = switch (t.isEmpty() ? ' ' : t.charAt(t.length() - 1)) {
            case 'K' -> 1L << 10;
            case 'M' -> 1L << 20;
            case 'G' -> 1L << 30;
            default -> 1;
        };
        try {
            long n = Long.parseLong(unit == 1 ? t : t.substring(0, t.length() - 1).trim());
            long bytes = Math.multiplyExact(n, unit);
            if (bytes <= 0 || !Pages.aligned(bytes)) {
                throw new NumberFormatException("must be a positive multiple of 4K");
            }
            return bytes;
        } catch (ArithmeticException | NumberFormatException e) {
            throw new IllegalArgumentException("bad memory size '" + text + "' (" + e.getMessage() + "); use e.g. 256M or 1G");
        }
    }

    /** The memory layout of this VM: RAM at 0 and, with SMM, the SMRAM alias window. */
    List<SlotSpec> plannedLayout(RestrictedFile file) {
        List<SlotSpec> l = new ArrayList<>();
        l.add(new SlotSpec(0, spec.memory(), SlotKind.RAM, false, new Backing.Restricted(file, 0)));
        if (spec.smm()) {
            l.add(new SlotSpec(SMRAM_BASE, SMRAM_SIZE, SlotKind.SMRAM_ALIAS, false, new Backing.AliasOf(0, SMRAM_RAM_OFFSET)));
        }
        return l;
    }

    /**
     * Offers a policy of the configured backend to a VM that has none: builds the memory on first
     * use, asks the policy to adopt it, and runs the VM if it should. A refusal is kept in the status.
     */
    synchronized void offer(Backend candidate) {
        if (backend != null || state == VmState.STOPPED || !candidate.name().equals(backendName)) {
            return;
        }
        try {
            if (memory == null) {
                buildMemory(candidate.policy());
            }
            candidate.policy().validateLayout(layout);
            candidate.policy().adopt(view, layout);
        } catch (RuntimeException e) {
            status = "paused: backend '" + candidate.name() + "' (" + candidate.bundle() + ") refused the VM: " + e.getMessage();
            if (memory == null) {
                state = VmState.FAILED;
                status = "failed: backend '" + candidate.name() + "' refused the VM's memory layout: " + e.getMessage();
            }
            LOG.error("VM {}: {}", spec.name(), status);
            return;
        }
        backend = candidate;
        if (runWhenAdopted) {
            state = VmState.RUNNING;
            status = "running on backend " + candidate.name();
            gate.open();
        } else {
            state = VmState.PAUSED;
            status = "paused on backend " + candidate.name();
        }
        swaps.resumed();
        LOG.info("VM {}: {} ({} MiB, {} private pages)", spec.name(), status, spec.memory() >> 20, view.privatePages());
    }

    private void buildMemory(BackendPolicy policy) {
        RestrictedFile file = restrictedMemory.create(spec.name(), spec.memory(), policy.initialState());
        MemoryManager.Created created = null;
        try {
            List<SlotSpec> planned = plannedLayout(file);
            policy.validateLayout(planned); // before any slot exists: nothing to undo
            created = memoryManager.create(spec.name());
            created.memory().addAll(planned);
            ram = file;
            memory = created.memory();
            view = created.guestView();
            layout = List.copyOf(planned);
        } catch (RuntimeException e) {
            if (created != null) {
                created.memory().close();
            }
            file.close();
            throw e;
        }
    }

    /** The policy's service went away: pause at a safe point and wait for a successor. */
    synchronized void policyGone(Backend gone) {
        if (backend == null || backend.policy() != gone.policy()) {
            return;
        }
        runWhenAdopted = state == VmState.RUNNING;
        swaps.pausing();
        gate.close();
        backend = null;
        state = VmState.PAUSED;
        status = "paused: waiting for backend '" + backendName + "' (" + gone.bundle() + " went away)";
        LOG.info("VM {}: {}", spec.name(), status);
    }

    /** Switches to {@code target} at a safe point, or throws and keeps the current backend. */
    synchronized void switchTo(Backend target) {
        if (state == VmState.STOPPED || state == VmState.FAILED) {
            throw new CloisterException(Errno.EBUSY, "VM '" + spec.name() + "' is " + state.name().toLowerCase(Locale.ROOT));
        }
        Backend current = backend;
        if (current != null && current.policy() == target.policy()) {
            return;
        }
        if (current == null) {
            backendName = target.name();
            offer(target);
            if (backend != target) {
                throw new CloisterException(Errno.EINVAL, status);
            }
            return;
        }
        boolean wasRunning = state == VmState.RUNNING;
        swaps.pausing();
        gate.close();
        try {
            target.policy().validateLayout(layout);
            target.policy().adopt(view, layout);
        } catch (RuntimeException e) {
            if (wasRunning) {
                gate.open();
            }
            swaps.resumed();
            throw new CloisterException(Errno.EINVAL, "VM '" + spec.name() + "' stays on backend " + current.name()
                    + ": backend " + target.name() + " refused it: " + e.getMessage());
        }
        current.policy().release(spec.name());
        backend = target;
        backendName = target.name();
        status = (wasRunning ? "running" : "paused") + " on backend " + target.name();
        if (wasRunning) {
            gate.open();
        }
        swaps.resumed();
        LOG.info("VM {}: switched from {} to {}", spec.name(), current.name(), target.name());
    }

    /**
     * A guest request (from a vCPU's hypercall exit): waits while the VM is paused, then asks the
     * policy. Returns the guest's rax; a policy that throws gives -EIO and a log line, the VM goes on.
     */
    long guestRequest(GuestRequest request) {
        if (!gate.enter()) {
            return -Errno.EIO.code();
        }
        try {
            Backend b = backend;
            try {
                return b.policy().handle(view, request);
            } catch (RuntimeException e) {
                LOG.error("VM {}: backend {} ({}) failed on {}: {}", spec.name(), b.name(), b.bundle(), request, e.toString());
                return -Errno.EIO.code();
            }
        } finally {
            gate.leave();
        }
    }

    @Override
    public void hostRead(long gpa, MemorySegment dst) {
        GuestMemory mem = memory;
        if (mem == null) {
            throw new CloisterException(Errno.EFAULT, "VM '" + spec.name() + "' has no memory yet");
        }
        for (long done = 0; done < dst.byteSize(); ) {
            long at = gpa + done;
            long n = Math.min(dst.byteSize() - done, Pages.SIZE - (at & Pages.MASK));
            MemorySegment piece = dst.asSlice(done, n);
            try {
                mem.read(at, piece);
            } catch (CloisterException e) {
                Backend b = backend;
                if (e.errno() != Errno.EACCES || b == null || b.policy().hostAccess() != HostAccess.CIPHERTEXT) {
                    throw e;
                }
                b.policy().hostReadPrivate(view, at, piece);
            }
            done += n;
        }
    }

    @Override
    public String name() {
        return spec.name();
    }

    @Override
    public VmState state() {
        return state;
    }

    @Override
    public String status() {
        return status;
    }

    @Override
    public String backend() {
        return backendName;
    }

    @Override
    public String engine() {
        return spec.engine();
    }

    @Override
    public GuestMemory memory() {
        return memory;
    }

    @Override
    public long totalPages() {
        return spec.memory() >>> Pages.SHIFT;
    }

    @Override
    public long privatePages() {
        GuestView v = view;
        return v == null ? 0 : v.privatePages();
    }

    /** Set by the registry, which knows the registered backends. */
    private java.util.function.Function<String, Backend> backends = name -> null;

    void backendLookup(java.util.function.Function<String, Backend> lookup) {
        this.backends = lookup;
    }

    @Override
    public void switchBackend(String name) {
        Backend target = backends.apply(name);
        if (target == null) {
            throw new CloisterException(Errno.ENOENT, "unknown backend '" + name + "'");
        }
        switchTo(target);
    }

    @Override
    public synchronized void pause() {
        if (state != VmState.RUNNING) {
            throw new CloisterException(Errno.EBUSY, "VM '" + spec.name() + "' is not running (" + state + ")");
        }
        gate.close();
        state = VmState.PAUSED;
        status = "paused by request";
    }

    @Override
    public synchronized void resume() {
        if (state != VmState.PAUSED || backend == null) {
            throw new CloisterException(Errno.EBUSY, "VM '" + spec.name() + "' cannot resume: " + status);
        }
        state = VmState.RUNNING;
        status = "running on backend " + backend.name();
        gate.open();
    }

    @Override
    public synchronized void stop() {
        if (state == VmState.STOPPED) {
            return;
        }
        gate.kill();
        state = VmState.STOPPED;
        status = "stopped";
    }

    /** Stops the VM and releases its memory; no page stays allocated or bound. */
    synchronized void destroy() {
        stop();
        Backend b = backend;
        if (b != null) {
            b.policy().release(spec.name());
        }
        backend = null;
        if (memory != null) {
            memory.close();
            ram.close();
        }
    }

    SwapStats swapStats() {
        return swaps;
    }

    /** The guest view, for the VM's CPU engine (and tests). */
    GuestView guestView() {
        return view;
    }
}
