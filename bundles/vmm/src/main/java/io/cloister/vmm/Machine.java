package io.cloister.vmm;

import java.io.OutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.bus.DeviceBus;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.device.ConsoleInput;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.Space;
import io.cloister.api.memory.GuestMemory;
import io.cloister.internal.acpi.AcpiDevice;
import io.cloister.internal.boot.Boot;
import io.cloister.internal.vmconfig.GuestImage;

/**
 * A VM's running guest: its vCPU threads, its device bus and the dispatch of exits. vCPU 0 starts
 * at the image's entry; the guest starts the others with the START_VCPU hypercall (PVH-style: at a
 * 32-bit entry, paging off, %ebx = an argument), as Xen PVH guests do with VCPUOP_up, or, on an
 * engine with local APICs, the standard way with INIT and start-up IPIs (as Linux does): there
 * the others exist from the start, each on its thread, waiting for SIPI. Each vCPU
 * runs inside the VM's gate, so a safe point (pause, backend swap, device change) waits for all
 * of them to leave; they are kicked out of the engine with requestExit. Device accesses are
 * serialized on the bus, like QEMU's big lock. A vCPU that halts stops (no interrupts come); the
 * guest has ended when all have halted, or at once on a debug exit or a fault.
 */
final class Machine implements DeviceContext {
    private static final Logger LOG = LoggerFactory.getLogger(Machine.class);
    /** KVM's answer to a hypercall it does not know. */
    static final long KVM_ENOSYS = -1000;

    /**
     * Exit status of a VM whose guest reset the platform (the 8042's reset line, the ACPI reset
     * register) under {@code --on-reset exit}: not 0, so a script tells a reboot from a poweroff.
     */
    static final int RESET_STATUS = 3;

    /** Hypercall: start vCPU arg0 at 32-bit entry arg1 with %ebx = arg2; 0, -EINVAL or -EEXIST. */
    static final long HC_START_VCPU = 0x434c0001L;
    static final int MAX_VCPUS = 64;

    /** A started vCPU and its thread. */
    private record Started(Vcpu vcpu, Thread thread) {
    }

    private final Vm vm;
    private final Gate gate;
    /** The engine's side of this VM: what its vCPUs share. */
    private final EngineVm engineVm;
    /** This VM's instance of each device service, to release when the service or the VM goes. */
    private final java.util.Map<Platform.Device, BusDevice> deviceInstances = new java.util.concurrent.ConcurrentHashMap<>();
    private final int vcpuCount;
    private final java.util.List<Started> vcpus = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** The indices of the vCPUs that run and have not halted yet (guarded by this). */
    private final java.util.Set<Integer> running = new java.util.HashSet<>();
    /** The APs waiting for a start-up IPI, not yet seen running (guarded by this). */
    private final java.util.Set<Integer> waiting = new java.util.HashSet<>();
    private final java.util.concurrent.atomic.AtomicBoolean reported = new java.util.concurrent.atomic.AtomicBoolean();
    private final DeviceBus bus;
    /** The VM's clock; its timers run under the bus lock. */
    private final VmTimeline time;
    private final Console console;
    final String engineName;
    final AtomicLong exits = new AtomicLong();
    /** Exits by kind, in the order of {@link #EXIT_KINDS}. */
    private final java.util.concurrent.atomic.AtomicLongArray exitKinds = new java.util.concurrent.atomic.AtomicLongArray(EXIT_KINDS.size());
    /** The names the metrics give the engines' exits, by {@link #exitKind}. */
    static final List<String> EXIT_KINDS = List.of("io", "mmio", "hypercall", "coco", "memory_fault", "halt", "shutdown", "failure",
            "interrupted");
    /** What types Ctrl-Alt-Del into the guest: the keyboard controller's, once it is attached. */
    private volatile Runnable ctrlAltDel;
    final AtomicLong hypercalls = new AtomicLong();
    /** Set by the vCPU thread (debug exit, halt, fault); acted on once it has left the gate. */
    private volatile Integer exitCode;
    private volatile String stopReason;
    private volatile boolean failed;
    /** The guest reset the platform and boots again (--on-reset restart). */
    private volatile boolean restart;

    /**
     * Loads the VM's guest image (a PVH ELF or a bzImage), its initrd, and the ACPI tables that
     * describe its vCPUs and devices into its (still shared) memory. GuestImage refuses what cannot
     * be an image (a device, a FIFO, a file larger than RAM) before it is opened, and maps the
     * files: they never sit on the heap, and their pages leave the process as they are copied.
     */
    static Boot.Booted load(GuestMemory memory, Vm.Spec spec, List<Platform.Device> devices) {
        Path image = resolve(spec.kernel());
        Path initrd = spec.initrd().isEmpty() ? null : resolve(spec.initrd());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment kernel = GuestImage.map(image, spec.memory(), arena);
            CocoLinux.check(spec.backend(), image.toString(), kernel); // before anything is written
            MemorySegment ramdisk = initrd == null ? null : GuestImage.map(initrd, spec.memory(), arena, "initrd");
            List<AcpiDevice> acpi = new java.util.ArrayList<>(AcpiDevice.of(devices.stream().filter(d -> d.isFor(spec.name()))
                    .map(Platform.Device::claims).toList()));
            List<Platform.Virtio> virtio = VirtioAnnouncement.of(devices, spec.name());
            acpi.addAll(VirtioAnnouncement.acpi(virtio));
            return Boot.load(image.toString(), kernel, memory, spec.memory(), new Boot.Setup(VirtioAnnouncement.cmdline(virtio, spec.cmdline()),
                    initrd == null ? null : initrd.toString(), ramdisk, spec.vcpus(), acpi));
        } catch (IllegalArgumentException e) {
            throw new CloisterException(Errno.EINVAL, e.getMessage());
        } catch (InternalError e) {
            // A mapped file cut short while it is copied faults (SIGBUS), which the JDK reports so.
            throw new CloisterException(Errno.EINVAL, "guest image " + image + (initrd == null ? "" : " or initrd " + initrd)
                    + " changed while it was loaded");
        }
    }

    Machine(Vm vm, Gate gate, CpuEngine engine, Platform platform, Vm.Spec spec, Boot.Booted loaded) {
        this.vm = vm;
        this.gate = gate;
        this.vcpuCount = spec.vcpus();
        this.engineName = engine.name();
        // The target the platform opens, behind a buffer: a slow or stuck target never holds a vCPU.
        this.console = Console.over(spec.console(), vm.name(), platform.openConsole(spec.console()), this::consoleFailed);
        Path image = resolve(spec.kernel());
        this.engineVm = engine.createVm(vm.guestView(), vm.cocoCpu());
        io.cloister.api.irq.LocalApics apics = engineVm.localApics();
        if (apics == null) {
            LOG.info("VM {}: engine {} takes no interrupts yet; interrupt lines reach the controllers but no vCPU", vm.name(),
                    engine.name());
        }
        this.bus = platform.busFactory().create(this, apics);
        if (spec.icount() >= 0) {
            InstructionTime counted = new InstructionTime(vm.name(), bus, spec.icount());
            if (!engineVm.clockByInstructions(counted)) {
                bus.close();
                engineVm.close();
                console.close();
                throw new CloisterException(Errno.EINVAL, "the " + engine.name()
                        + " engine cannot run on deterministic time (icount); the emulator can");
            }
            this.time = counted;
        } else {
            this.time = new VmTime(vm.name(), bus);
        }
        if (apics != null) {
            apics.connect(bus.interrupts(), time);
        }
        for (Platform.Device d : platform.devices()) {
            attach(d);
        }
        Vcpu boot = engineVm.createVcpu(0, loaded.entry(), loaded.startInfo());
        if (time instanceof InstructionTime counted) {
            counted.count(boot::instructions);
        }
        vcpus.add(new Started(boot, Thread.ofPlatform().name("vcpu-" + vm.name() + "-0").unstarted(() -> runVcpu(boot))));
        running.add(0);
        if (apics != null) {
            // The APs exist from the start and wait for INIT/SIPI (or START_VCPU), blocked in their APICs.
            for (int i = 1; i < vcpuCount; i++) {
                Vcpu ap = engineVm.createVcpu(i, EngineVm.WAIT_FOR_SIPI, 0);
                vcpus.add(new Started(ap, Thread.ofPlatform().name("vcpu-" + vm.name() + "-" + i).unstarted(() -> runVcpu(ap))));
                waiting.add(i);
            }
        }
        gate.kickWith(this::kickAll);
        LOG.info("VM {}: booting {} ({}) on {} (entry 0x{}, {} MiB, {} vCPU{})", vm.name(), image.getFileName(),
                loaded.description().protocol(), engine.name(), Long.toHexString(loaded.description().entry().rip()),
                spec.memory() >> 20, vcpuCount, vcpuCount == 1 ? "" : "s");
    }

    static Path resolve(String kernel) {
        return GuestImage.resolve(kernel, System.getProperty("cloister.home"));
    }

    /**
     * Attaches this VM's own instance of a device service; false (logged) if the device is refused
     * (a claim overlaps another device's) or fails to attach. Called at a safe point.
     */
    boolean attach(Platform.Device d) {
        if (!d.isFor(vm.name())) {
            return false; // another VM's device (a drive): not even instantiated here
        }
        BusDevice instance = null;
        try {
            instance = d.instances().get();
            bus.attach(instance, d.bundle());
            deviceInstances.put(d, instance);
            return true;
        } catch (RuntimeException e) {
            LOG.error("VM {}: device {} from {} not attached: {}", vm.name(), d.name(), d.bundle(), e.getMessage());
            release(d, instance);
            return false;
        }
    }

    /** Detaches and releases this VM's instance of a device service. Called at a safe point. */
    void detach(Platform.Device d) {
        BusDevice instance = deviceInstances.remove(d);
        if (instance != null) {
            bus.detach(instance);
            release(d, instance);
        }
    }

    private void release(Platform.Device d, BusDevice instance) {
        if (instance == null) {
            return;
        }
        try {
            d.instances().release(instance);
        } catch (RuntimeException e) {
            LOG.debug("VM {}: releasing device {}: {}", vm.name(), d.name(), e.toString());
        }
    }

    /** Makes every started vCPU leave the guest soon. */
    private void kickAll() {
        vcpus.forEach(v -> v.vcpu().requestExit());
    }

    void start() {
        vcpus.forEach(s -> s.thread().start());
    }

    /** START_VCPU from a running vCPU (inside the gate). */
    private synchronized long startVcpu(long index, long entry, long arg) {
        if (index < 1 || index >= vcpuCount || entry < 0 || entry > 0xffffffffL) {
            return -Errno.EINVAL.code();
        }
        for (Started s : vcpus) {
            if (s.vcpu().index() == index) {
                if (!waiting.contains((int) index) || s.vcpu().instructions() > 0) {
                    return -Errno.EEXIST.code(); // running, or started by a SIPI
                }
                try {
                    engineVm.createVcpu((int) index, entry, arg); // the waiting AP starts there, on its thread
                } catch (IllegalStateException sipiFirst) {
                    return -Errno.EEXIST.code();
                }
                waiting.remove((int) index);
                running.add((int) index);
                LOG.info("VM {}: vCPU {} started at 0x{}", vm.name(), index, Long.toHexString(entry));
                vm.event("vCPU " + index + " started at 0x" + Long.toHexString(entry));
                return 0;
            }
        }
        Vcpu v = engineVm.createVcpu((int) index, entry, arg);
        Thread t = Thread.ofPlatform().name("vcpu-" + vm.name() + "-" + index).unstarted(() -> runVcpu(v));
        running.add((int) index);
        vcpus.add(new Started(v, t));
        LOG.info("VM {}: vCPU {} started at 0x{}", vm.name(), index, Long.toHexString(entry));
        vm.event("vCPU " + index + " started at 0x" + Long.toHexString(entry));
        t.start();
        return 0;
    }

    private void runVcpu(Vcpu vcpu) {
        boolean halted = false;
        boolean seenRunning = vcpu.index() == 0;
        try {
            while (!halted && exitCode == null && gate.enter()) {
                try {
                    Exit e = vcpu.run();
                    exits.incrementAndGet();
                    if (!seenRunning && vcpu.instructions() > 0) {
                        seenRunning = true;
                        startedBySipi(vcpu.index());
                    }
                    exitKinds.incrementAndGet(exitKind(e));
                    halted = dispatch(vcpu, e);
                } finally {
                    gate.leave();
                }
            }
        } catch (RuntimeException | Error e) {
            LOG.error("VM {}: vCPU {} failed", vm.name(), vcpu.index(), e);
            finish(1, "engine failed on vCPU " + vcpu.index() + ": " + e, true);
        }
        if (halted && lastHalted(vcpu.index())) {
            finish(0, vcpuCount == 1 ? "halted" : "all vCPUs halted", false);
        }
        console.drain(); // the guest's last output is out before the run reports
        Integer code = null;
        String reason = null;
        boolean failure = false;
        synchronized (this) {
            if (exitCode != null && reported.compareAndSet(false, true)) {
                code = exitCode;
                reason = stopReason;
                failure = failed;
            }
        }
        if (code != null) {
            if (restart && !failure) {
                vm.reboot.guestReset(this);
            } else {
                vm.guestStopped(code, reason, failure);
            }
        }
    }

    /** An AP that waited runs now (a SIPI started it): the VM goes on until it halts too. */
    private synchronized void startedBySipi(int index) {
        if (waiting.remove(index)) {
            running.add(index);
        }
    }

    /**
     * vCPU {@code index} halted for good: whether it was the last running one. An AP a SIPI has
     * started but that has not reported back yet (it retired instructions) still counts.
     */
    private synchronized boolean lastHalted(int index) {
        running.remove(index);
        if (!running.isEmpty()) {
            return false;
        }
        for (Started s : vcpus) {
            if (waiting.contains(s.vcpu().index()) && s.vcpu().instructions() > 0) {
                return false;
            }
        }
        return true;
    }

    static int exitKind(Exit e) {
        return switch (e) {
            case Exit.Io x -> 0;
            case Exit.Mmio x -> 1;
            case Exit.Hypercall x -> 2;
            case Exit.Coco x -> 3;
            case Exit.MemoryFault x -> 4;
            case Exit.Halt x -> 5;
            case Exit.Shutdown x -> 6;
            case Exit.Failure x -> 7;
            case Exit.Interrupted x -> 8;
        };
    }

    /** The exits so far by kind, every kind named (0 for those not taken). */
    java.util.Map<String, Long> exitsByKind() {
        java.util.Map<String, Long> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < EXIT_KINDS.size(); i++) {
            m.put(EXIT_KINDS.get(i), exitKinds.get(i));
        }
        return m;
    }

    @Override
    public void onCtrlAltDel(Runnable sendKeys) {
        ctrlAltDel = sendKeys;
    }

    /** Types Ctrl-Alt-Del through the keyboard controller, under the bus lock as an access would. */
    void sendCtrlAltDel() {
        Runnable r = ctrlAltDel;
        if (r == null) {
            throw new CloisterException(Errno.EOPNOTSUPP, "VM " + vm.name() + " has no keyboard controller (i8042) to send Ctrl-Alt-Del through");
        }
        synchronized (bus) {
            r.run();
        }
    }

    /** A port or MMIO access of the guest: a write goes to the bus, a read's value back to the vCPU. */
    private void access(Vcpu vcpu, Space space, long address, int size, boolean write, long value) {
        synchronized (bus) {
            if (write) {
                bus.write(space, address, size, value);
            } else {
                vcpu.complete(bus.read(space, address, size));
            }
        }
    }

    /** Handles one exit; true when the vCPU halted. */
    private boolean dispatch(Vcpu vcpu, Exit e) {
        switch (e) {
            case Exit.Io io -> access(vcpu, Space.PIO, io.port(), io.size(), io.write(), io.value());
            case Exit.Mmio m -> access(vcpu, Space.MMIO, m.gpa(), m.size(), m.write(), m.value());
            case Exit.Hypercall h -> {
                hypercalls.incrementAndGet();
                if (h.nr() == GuestRequest.HC_MAP_GPA_RANGE) {
                    vcpu.complete(vm.requestFromVcpu(new GuestRequest.MapGpaRange(h.arg0(), h.arg1(), h.arg2())));
                } else if (h.nr() == HC_START_VCPU) {
                    vcpu.complete(startVcpu(h.arg0(), h.arg1(), h.arg2()));
                } else {
                    vcpu.complete(KVM_ENOSYS);
                }
            }
            case Exit.Coco c -> vcpu.complete(vm.requestFromVcpu(c.request()));
            case Exit.Halt h -> {
                return true;
            }
            case Exit.Shutdown s -> finish(1, s.reason(), true);
            case Exit.MemoryFault f -> {
                // As QEMU does for KVM_EXIT_MEMORY_FAULT: convert the page to what the guest used,
                // through the backend (its content rule applies), then let the access run again.
                long rc = vm.requestFromVcpu(new GuestRequest.MapGpaRange(f.gpa() & ~0xfffL, 1,
                        f.privateAccess() ? GuestRequest.MapGpaRange.ATTR_ENCRYPTED : 0));
                if (rc != 0) {
                    finish(1, String.format("memory fault at gpa 0x%x (%s access to a page in the other state) and the backend "
                            + "refused to convert it (%d)", f.gpa(), f.privateAccess() ? "private" : "shared", rc), true);
                }
            }
            case Exit.Failure f -> finish(1, f.reason(), true);
            case Exit.Interrupted i -> { }
        }
        return false;
    }

    /** The guest has ended; the first reason wins, and every vCPU is kicked out. */
    private synchronized void finish(int code, String reason, boolean failure) {
        if (exitCode != null) {
            return;
        }
        stopReason = reason;
        failed = failure;
        exitCode = code;
        kickAll();
    }

    /**
     * The console's target failed (a closed connection, a full disk): the guest's output is lost, so
     * the run fails, even if the guest has just ended well but is not reported yet.
     */
    private synchronized void consoleFailed(String why) {
        if (reported.get()) {
            LOG.error("VM {}: {}", vm.name(), why);
            return;
        }
        if (exitCode == null || !failed) {
            stopReason = why;
            failed = true;
            exitCode = 1;
            kickAll();
        }
    }

    /** isa-debug-exit: the guest wrote v; QEMU exits with (v << 1) | 1, Cloister with v. */
    @Override
    public void exit(int status) {
        finish(status >>> 1, "guest exited with status " + (status >>> 1), false);
    }

    @Override
    public void powerOff() {
        finish(0, "the guest powered off (ACPI S5)", false);
    }

    @Override
    public void reset() {
        if (vm.reboot.onReset()) {
            restart = true;
            finish(RESET_STATUS, "the guest reset the platform; restarting", false);
        } else {
            finish(RESET_STATUS, "the guest reset the platform (exit status " + RESET_STATUS + ")", false);
        }
    }

    @Override
    public String vmName() {
        return vm.name();
    }

    @Override
    public DmaView dma() {
        return new DmaView() {
            @Override
            public void read(long gpa, MemorySegment dst) {
                vm.hostRead(gpa, dst);
            }

            @Override
            public void write(long gpa, MemorySegment src) {
                vm.hostWrite(gpa, src);
                engineVm.memoryWritten(gpa, src.byteSize()); // decoded code there is stale now
            }
        };
    }

    @Override
    public OutputStream console() {
        return console;
    }

    /**
     * The VM's console input. Its listener runs under the bus lock, so to the device the arrival
     * of input looks like any other access (as a timer's expiry does).
     */
    @Override
    public ConsoleInput consoleInput() {
        ConsoleIn in = vm.consoleIn();
        return new ConsoleInput() {
            @Override
            public int read() {
                return in.read();
            }

            @Override
            public void onAvailable(Runnable listener) {
                in.onAvailable(listener == null ? null : () -> {
                    synchronized (bus) {
                        listener.run();
                    }
                });
            }
        };
    }

    @Override
    public io.cloister.api.device.InterruptLine interruptLine(int irq) {
        if (irq < 0 || irq > 23) {
            throw new CloisterException(Errno.EINVAL, "interrupt line " + irq + " is outside 0..23");
        }
        return asserted -> bus.interrupts().setLevel(irq, asserted);
    }

    @Override
    public VmTimeline clock() {
        return time;
    }

    /** Ends the vCPU thread (the gate is dead by now) and releases the bus and console. */
    void close() {
        kickAll();
        joinVcpus(5_000);
        for (Started s : vcpus) {
            s.vcpu().close();
        }
        engineVm.close();
        time.close();
        for (Platform.Device d : List.copyOf(deviceInstances.keySet())) {
            detach(d);
        }
        bus.close();
        console.close();
    }

    /** Waits for each vCPU thread to end (at most {@code millis} each), so their counters are final. */
    void joinVcpus(long millis) {
        for (Started s : vcpus) {
            try {
                s.thread().join(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }

    List<String> devices() {
        return bus.devices();
    }

    long instructions() {
        long n = 0;
        for (Started s : vcpus) {
            n += s.vcpu().instructions();
        }
        return n;
    }

    /** vCPU 0's registers; of the others, their rip (as vcpuN.rip). */
    java.util.Map<String, Long> registers() {
        java.util.Map<String, Long> regs = new java.util.LinkedHashMap<>(vcpus.get(0).vcpu().registers());
        for (Started s : vcpus) {
            if (s.vcpu().index() != 0) {
                regs.put("vcpu" + s.vcpu().index() + ".rip", s.vcpu().registers().get("rip"));
            }
        }
        return regs;
    }

    /** The vCPUs started so far: the boot vCPU, and the APs START_VCPU or a SIPI started. */
    synchronized int startedVcpus() {
        int n = 0;
        for (Started s : vcpus) {
            if (!waiting.contains(s.vcpu().index()) || s.vcpu().instructions() > 0) {
                n++;
            }
        }
        return n;
    }
}
