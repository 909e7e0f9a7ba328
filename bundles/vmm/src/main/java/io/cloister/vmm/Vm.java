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
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.memory.Backing;
import io.cloister.api.memory.GuestMemory;
import io.cloister.api.memory.GuestView;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotKind;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.api.vm.VirtualMachine;
import io.cloister.api.vm.VmState;
import io.cloister.internal.boot.Boot;

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
    record Spec(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel,
            String cmdline, int vcpus, String console, String initrd, int icount) {
        Spec {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException("a VM needs a name");
            }
            if (vcpus < 1 || vcpus > Machine.MAX_VCPUS) {
                throw new IllegalArgumentException("VM " + name + ": vcpus=" + vcpus + " is outside 1.." + Machine.MAX_VCPUS);
            }
        }

        /** A VM on the host's clock (icount -1: VM time follows the host's clock). */
        Spec(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel, String cmdline,
                int vcpus, String console, String initrd) {
            this(name, memory, backend, engine, smm, autostart, kernel, cmdline, vcpus, console, initrd, -1);
        }

        /** A VM without an initrd. */
        Spec(String name, long memory, String backend, String engine, boolean smm, boolean autostart, String kernel, String cmdline,
                int vcpus, String console) {
            this(name, memory, backend, engine, smm, autostart, kernel, cmdline, vcpus, console, "");
        }

        /** A VM without a guest image (memory and backend only). */
        Spec(String name, long memory, String backend) {
            this(name, memory, backend, "auto", false, true, "", "", 1, "stdout");
        }
    }

    private final Spec spec;
    private final MemoryManager memoryManager;
    private final RestrictedMemoryProvider restrictedMemory;
    private final Gate gate = new Gate();
    private final SwapStats swaps = new SwapStats();
    private final Platform platform;
    /** What a reset of the guest does: ends the VM, or boots the guest again (--on-reset restart). */
    final Reboot reboot;
    /** What the VM's console receives (stdin of 'vmm run'); closed when the VM ends. */
    private final ConsoleIn consoleIn = new ConsoleIn();
    /** The running guest, once booted. */
    private volatile Machine machine;
    private volatile Integer exitCode;
    /** The loaded guest image, if the VM has one. */
    private Boot.Booted loaded;

    private volatile VmState state = VmState.CREATED;
    private volatile String status;
    /** The last state changes, oldest first; guarded by this object's monitor. */
    private final java.util.ArrayDeque<String> events = new java.util.ArrayDeque<>();
    private volatile String backendName;
    /** Read by guest requests inside the gate; written only with the gate closed. */
    private volatile Backend backend;
    /** The backend's CPU semantics for this VM, set with {@link #backend}. */
    private volatile CocoCpu backendCpu = CocoCpu.NONE;
    private RestrictedFile ram;
    /** Why the loader refused the guest image or initrd (truncated, wrong protocol, no room), or null. */
    private volatile String imageRefused;
    /** Backend swaps done, and the page conversions (MAP_GPA_RANGE) the backend granted, for the metrics. */
    private final java.util.concurrent.atomic.AtomicLong swapCount = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong conversions = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong convertedPages = new java.util.concurrent.atomic.AtomicLong();
    private GuestMemory memory;
    private GuestView view;
    private List<SlotSpec> layout;
    private boolean destroyed;
    /** Whether to run again once a policy takes the VM (it was running, or is to autostart). */
    private boolean runWhenAdopted;

    Vm(Spec spec, MemoryManager memoryManager, RestrictedMemoryProvider restrictedMemory, Platform platform) {
        this.spec = spec;
        this.platform = platform;
        this.reboot = new Reboot(this, spec, platform);
        this.memoryManager = memoryManager;
        this.restrictedMemory = restrictedMemory;
        this.backendName = spec.backend();
        this.runWhenAdopted = spec.autostart();
        status("created, waiting for backend '" + spec.backend() + "'");
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
        if (backend != null || state == VmState.STOPPED || state == VmState.FAILED || !candidate.name().equals(backendName)) {
            return;
        }
        try {
            if (memory == null) {
                buildMemory(candidate.policy());
            }
            candidate.policy().validateLayout(layout);
            candidate.policy().adopt(view, layout);
        } catch (RuntimeException e) {
            if (memory == null) {
                // Nothing was built: the VM cannot run on any backend. Status before state: a
                // reader that sees FAILED (state is volatile) sees the failure's status too.
                status("failed: " + e.getMessage());
                exitCode = 1;
                state = VmState.FAILED;
            } else {
                status("paused: backend '" + candidate.name() + "' (" + candidate.bundle() + ") refused the VM: " + e.getMessage());
            }
            LOG.error("VM {}: {}", spec.name(), status);
            return;
        }
        backend = candidate;
        backendCpu = candidate.policy().cpu(view);
        if (runWhenAdopted) {
            if (!spec.kernel().isEmpty() && machine == null && !boot()) {
                return;
            }
            state = VmState.RUNNING;
            status("running on backend " + candidate.name());
            clockPaused(false);
            gate.open();
        } else {
            state = VmState.PAUSED;
            status("paused on backend " + candidate.name());
        }
        swaps.resumed();
        LOG.info("VM {}: {} ({} MiB, {} private pages)", spec.name(), status, spec.memory() >> 20, view.privatePages());
    }

    /**
     * Creates RAM shared, loads the guest image into it, then makes it private in place if the
     * backend starts private: the launch step of SEV/SNP/TDX, which encrypt or add the measured
     * initial image without the host writing private memory.
     */
    private void buildMemory(BackendPolicy policy) {
        RestrictedFile file = restrictedMemory.create(spec.name(), spec.memory(), PageState.SHARED);
        MemoryManager.Created created = null;
        try {
            List<SlotSpec> planned = plannedLayout(file);
            policy.validateLayout(planned); // before any slot exists: nothing to undo
            created = memoryManager.create(spec.name());
            created.memory().addAll(planned);
            if (!spec.kernel().isEmpty()) {
                try {
                    loaded = Machine.load(created.memory(), spec, platform.devices());
                } catch (CloisterException e) {
                    String why = e.getMessage();
                    String errno = e.errno() + ": "; // the loader's reason reads better without it
                    imageRefused = why.startsWith(errno) ? why.substring(errno.length()) : why;
                    throw e;
                }
            }
            if (policy.initialState() == PageState.PRIVATE) {
                created.guestView().convert(0, spec.memory(), PageState.PRIVATE, ContentRule.PRESERVE);
            }
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

    /**
     * Loads the guest and makes its vCPU (not yet let through the gate). False, with the reason in
     * the status, if there is no engine yet or the image is refused.
     */
    private boolean boot() {
        CpuEngine engine = platform.engine(spec.engine());
        if (engine == null || platform.busFactory() == null) {
            state = VmState.PAUSED;
            status(engine == null ? "waiting for a CPU engine (" + platform.engineMissing(spec.engine()) + ")" : "waiting for the device bus");
            LOG.warn("VM {}: {}", spec.name(), status);
            return false;
        }
        try {
            machine = new Machine(this, gate, engine, platform, spec, loaded);
        } catch (RuntimeException e) {
            status("failed: " + e.getMessage());
            exitCode = 1;
            state = VmState.FAILED;
            LOG.error("VM {}: {}", spec.name(), status);
            return false;
        }
        machine.start();
        return true;
    }

    private void status(String text) {
        status = text;
        event(text);
    }

    /** Records an event; its own lock, so a vCPU thread may record while the VM's is held at a safe point. */
    void event(String text) {
        synchronized (events) {
            if (events.size() == 100) {
                events.removeFirst();
            }
            events.addLast(java.time.LocalTime.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS) + " " + text);
        }
    }

    @Override
    public List<String> events() {
        synchronized (events) {
            return List.copyOf(events);
        }
    }

    /** Says what a VM that could not start yet is waiting for. */
    synchronized void waitingFor(String what) {
        if (state == VmState.CREATED) {
            status("waiting for " + what);
        }
    }

    /** A CPU engine appeared: boot a VM that was waiting for one. */
    synchronized void engineAvailable() {
        if (backend != null && machine == null && runWhenAdopted && !spec.kernel().isEmpty() && state == VmState.PAUSED) {
            Backend b = backend;
            backend = null;
            backendCpu = CocoCpu.NONE;
            offer(b);
        }
    }

    /**
     * Called by the vCPU thread, outside the gate, when the guest has ended (or by a {@link Reboot}
     * that cannot boot it again).
     */
    void guestStopped(int code, String reason, boolean failure) {
        synchronized (this) {
            if (state == VmState.STOPPED || state == VmState.FAILED) {
                return;
            }
            exitCode = code;
            gate.kill(0); // called by the vCPU itself, outside the gate
            status(reason);
            state = failure ? VmState.FAILED : VmState.STOPPED;
            consoleIn.close();
            notifyAll();
        }
        if (failure) {
            LOG.error("VM {}: {}", spec.name(), reason);
        } else {
            LOG.info("VM {}: {}", spec.name(), reason);
        }
    }

    /** Waits until the guest has ended; its exit code, or null on timeout. */
    synchronized Integer awaitExit(long millis) throws InterruptedException {
        long deadline = System.currentTimeMillis() + millis;
        while (exitCode == null && (state != VmState.STOPPED && state != VmState.FAILED)) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return null;
            }
            wait(Math.min(left, 100));
        }
        return exitCode == null ? (state == VmState.FAILED ? 1 : 0) : exitCode;
    }

    /** The backend whose policy holds the VM now, or null. */
    Backend currentBackend() {
        return backend;
    }

    /** The VM's memory, null until built. */
    GuestMemory memory() {
        return memory;
    }

    /** {@link Reboot} closed the machine: its counters and devices are gone. */
    void machineClosed() {
        machine = null;
    }

    /** Boots a new machine from the images {@link Reboot} loaded again; if none can start, waiters hear why. */
    synchronized void bootAgain(Boot.Booted images) {
        loaded = images;
        if (!boot()) {
            consoleIn.close();
            notifyAll();
        }
    }

    /** Whether the guest's console is the VMM's stdout (where its stdin belongs too). */
    boolean consoleOnStdout() {
        return spec.console() == null || spec.console().isBlank() || spec.console().equals("stdout");
    }

    ConsoleIn consoleIn() {
        return consoleIn;
    }

    boolean hasGuest() {
        return !spec.kernel().isEmpty();
    }

    Machine machine() {
        return machine;
    }

    /**
     * The policy's service went away: pause at a safe point and wait for a successor. A VM whose
     * guest has ended only lets go of it: it stays stopped (or failed), as a successor would not
     * run it again.
     */
    synchronized void policyGone(Backend gone) {
        if (backend == null || backend.policy() != gone.policy()) {
            return;
        }
        if (state == VmState.STOPPED || state == VmState.FAILED) {
            backend = null;
            backendCpu = CocoCpu.NONE;
            return;
        }
        runWhenAdopted = state == VmState.RUNNING;
        swaps.pausing();
        gate.close();
        backend = null;
        backendCpu = CocoCpu.NONE;
        clockPaused(true);
        state = VmState.PAUSED;
        status("paused: waiting for backend '" + backendName + "' (" + gone.bundle() + " went away)");
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
        backendCpu = target.policy().cpu(view);
        backendName = target.name();
        status((wasRunning ? "running" : "paused") + " on backend " + target.name());
        if (wasRunning) {
            gate.open();
        }
        swaps.resumed();
        swapCount.incrementAndGet();
        event("switched from backend " + current.name() + " to " + target.name());
        LOG.info("VM {}: switched from {} to {}", spec.name(), current.name(), target.name());
    }

    /**
     * A guest request from outside the vCPU loop: waits while the VM is paused, then asks the
     * policy. Returns the guest's rax.
     */
    long guestRequest(GuestRequest request) {
        if (!gate.enter()) {
            return -Errno.EIO.code();
        }
        try {
            return requestFromVcpu(request);
        } finally {
            gate.leave();
        }
    }

    /**
     * A guest request from a vCPU, which is inside the gate already. A policy that throws gives
     * the guest -EIO and the log a line naming its bundle; the VM goes on.
     */
    long requestFromVcpu(GuestRequest request) {
        Backend b = backend;
        try {
            long rc = b.policy().handle(view, request);
            if (rc == 0 && request instanceof GuestRequest.MapGpaRange m) {
                conversions.incrementAndGet();
                convertedPages.addAndGet(m.pages());
            }
            return rc;
        } catch (RuntimeException e) {
            LOG.error("VM {}: backend {} ({}) failed on {}: {}", spec.name(), b.name(), b.bundle(), request, e.toString());
            return -Errno.EIO.code();
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

    /** The loader's refusal of the VM's kernel or initrd, or null: bad input, which 'vmm run' reports as such. */
    String imageRefused() {
        return imageRefused;
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
        Machine m = machine;
        return m == null ? spec.engine() : m.engineName;
    }

    /** The memory map as plain data: management sees where memory is, never a handle on it. */
    @Override
    public List<io.cloister.api.vm.MemoryRegion> memoryMap() {
        GuestMemory mem = memory;
        if (mem == null) {
            return List.of();
        }
        List<io.cloister.api.vm.MemoryRegion> map = new ArrayList<>();
        for (io.cloister.api.memory.MemSlot s : mem.table().slots()) {
            String backing = switch (s.backing()) {
                case Backing.Anonymous a -> "anonymous";
                case Backing.AliasOf a -> String.format("alias of slot %d +0x%x", a.slotId(), a.offset());
                case Backing.Restricted r -> String.format("restricted +0x%x", r.offset());
            };
            map.add(new io.cloister.api.vm.MemoryRegion(s.id(), s.gpa(), s.size(), s.kind().name(),
                    s.readOnly(), backing));
        }
        return map;
    }

    /** Host write (device DMA): shared pages only; EACCES if any page touched is private. */
    void hostWrite(long gpa, MemorySegment src) {
        GuestMemory mem = memory;
        if (mem == null) {
            throw new CloisterException(Errno.EFAULT, "VM '" + spec.name() + "' has no memory yet");
        }
        mem.write(gpa, src);
    }

    @Override
    public List<String> devices() {
        Machine m = machine;
        return m == null ? List.of() : m.devices();
    }

    /**
     * Read with the vCPU out of the guest (a safe point), so the values belong together. Refused
     * where the technology keeps vCPU state from the host (SEV-ES/SNP VMSA, TDX, pKVM).
     */
    @Override
    public synchronized java.util.Map<String, Long> registers() {
        Backend b = backend;
        if (b != null && b.policy().protectsCpuState()) {
            throw new CloisterException(Errno.EACCES, "VM '" + spec.name() + "': backend " + b.name()
                    + " keeps vCPU state from the host; registers cannot be read");
        }
        Machine m = machine;
        if (m == null) {
            return java.util.Map.of();
        }
        java.util.Map<String, Long> regs = new java.util.LinkedHashMap<>();
        if (state == VmState.RUNNING) {
            atSafePoint(() -> regs.putAll(m.registers()));
        } else {
            regs.putAll(m.registers());
        }
        return regs;
    }

    /** Why the guest waits for a CPU engine (the engine's reason, or which exist), or null if it does not. */
    String engineMissing() {
        return machine == null && !spec.kernel().isEmpty() && platform.engine(spec.engine()) == null
                ? platform.engineMissing(spec.engine()) : null;
    }

    @Override
    public int vcpus() {
        return spec.vcpus();
    }

    @Override
    public int startedVcpus() {
        Machine m = machine;
        return m == null ? 0 : m.startedVcpus();
    }

    @Override
    public long instructions() {
        Machine m = machine;
        return m == null ? 0 : m.instructions();
    }

    @Override
    public long exits() {
        Machine m = machine;
        return m == null ? 0 : m.exits.get();
    }

    @Override
    public java.util.Map<String, Long> exitsByKind() {
        Machine m = machine;
        return m == null ? java.util.Map.of() : m.exitsByKind();
    }

    @Override
    public java.util.Map<String, Long> counters() {
        java.util.Map<String, Long> c = new java.util.LinkedHashMap<>();
        c.put("swaps", swapCount.get());
        c.put("conversions", conversions.get());
        c.put("converted_pages", convertedPages.get());
        RestrictedFile f = ram;
        io.cloister.api.restricted.RestrictedStats s = f == null ? null : f.stats();
        c.put("punched_pages", s == null ? 0 : s.punchedPages());
        c.put("allocated_pages", s == null ? 0 : s.allocatedPages());
        return c;
    }

    @Override
    public void sendCtrlAltDel() {
        Machine m = machine;
        if (m == null || state != VmState.RUNNING && state != VmState.PAUSED) {
            throw new CloisterException(Errno.EBUSY, "VM " + name() + " is not running (" + state + ")");
        }
        m.sendCtrlAltDel();
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

    @Override
    public void switchBackend(String name) {
        Backend target = platform.backend(name);
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
        clockPaused(true);
        state = VmState.PAUSED;
        status("paused by request");
    }

    @Override
    public synchronized void resume() {
        if (state != VmState.PAUSED || backend == null) {
            throw new CloisterException(Errno.EBUSY, "VM '" + spec.name() + "' cannot resume: " + status);
        }
        state = VmState.RUNNING;
        status("running on backend " + backend.name());
        clockPaused(false);
        gate.open();
    }

    /** The VM's clock stops while it is paused (by request, or waiting for its policy). */
    private void clockPaused(boolean paused) {
        Machine m = machine;
        if (m != null) {
            if (paused) {
                m.clock().pause();
            } else {
                m.clock().resume();
            }
        }
    }

    @Override
    public synchronized void stop() {
        if (state == VmState.STOPPED || state == VmState.FAILED) {
            return;
        }
        if (!gate.kill(2_000)) {
            LOG.warn("VM {}: its vCPU did not leave the guest within 2 s (an engine that cannot be kicked); stopped anyway", spec.name());
        }
        status("stopped");
        state = VmState.STOPPED;
        consoleIn.close();
        notifyAll();
    }

    /** Stops the VM and releases its memory; no page stays allocated or bound. Once; later calls do nothing. */
    synchronized void destroy() {
        if (destroyed) {
            return;
        }
        destroyed = true;
        stop();
        if (machine != null) {
            machine.close();
        }
        Backend b = backend;
        if (b != null) {
            b.policy().release(spec.name());
        }
        backend = null;
        backendCpu = CocoCpu.NONE;
        if (memory != null) {
            memory.close();
            ram.close();
        }
    }

    /** Attaches this VM's instance of a device that appeared, at a safe point. */
    synchronized void attachDevice(Platform.Device d) {
        Machine m = machine;
        if (m == null || state == VmState.STOPPED || state == VmState.FAILED) {
            return;
        }
        boolean[] attached = new boolean[1];
        atSafePoint(() -> attached[0] = m.attach(d));
        if (attached[0]) {
            event("device " + d.name() + " from " + d.bundle() + " attached");
            LOG.info("VM {}: device {} from {} attached", spec.name(), d.name(), d.bundle());
        }
    }

    /** Detaches this VM's instance of a device whose service went away, at a safe point. */
    synchronized void detachDevice(Platform.Device d) {
        Machine m = machine;
        if (m == null) {
            return;
        }
        atSafePoint(() -> m.detach(d));
        event("device " + d.name() + " detached");
    }

    /** Runs {@code change} with the vCPUs out of the guest, then lets them back in if they were running. */
    private void atSafePoint(Runnable change) {
        boolean wasOpen = gate.isOpen();
        gate.close();
        try {
            change.run();
        } catch (RuntimeException e) {
            LOG.error("VM {}: {}", spec.name(), e.getMessage());
        } finally {
            if (wasOpen) {
                gate.open();
            }
        }
    }

    /** The CPU semantics of the current backend, for the engine; it follows swaps. */
    CocoCpu cocoCpu() {
        return new CurrentCocoCpu(() -> backendCpu);
    }

    SwapStats swapStats() {
        return swaps;
    }

    /** The guest view, for the VM's CPU engine (and tests). */
    GuestView guestView() {
        return view;
    }
}
