package io.cloister.vmm;

import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.device.DeviceBus;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.Space;
import io.cloister.api.memory.GuestMemory;
import io.cloister.internal.pvh.PvhLoader;

/**
 * A VM's running guest: its vCPU thread, its device bus and the dispatch of exits. The vCPU runs
 * inside the VM's gate, so a safe point (pause, backend swap, device change) waits for it to
 * leave; it is kicked out of the engine with requestExit.
 */
final class Machine implements DeviceContext {
    private static final Logger LOG = LoggerFactory.getLogger(Machine.class);
    /** KVM's answer to a hypercall it does not know. */
    static final long KVM_ENOSYS = -1000;

    private final Vm vm;
    private final Gate gate;
    private final Vcpu vcpu;
    private final DeviceBus bus;
    private final OutputStream console;
    private final Thread thread;
    final String engineName;
    final AtomicLong exits = new AtomicLong();
    final AtomicLong hypercalls = new AtomicLong();
    /** Set by the vCPU thread (debug exit, halt, fault); acted on once it has left the gate. */
    private volatile Integer exitCode;
    private volatile String stopReason;
    private volatile boolean failed;

    /** Loads the VM's guest image into its (still shared) memory. */
    static PvhLoader.Loaded load(GuestMemory memory, Vm.Spec spec) {
        Path image = resolve(spec.kernel());
        byte[] elf;
        try {
            elf = Files.readAllBytes(image);
        } catch (IOException e) {
            throw new CloisterException(Errno.ENOENT, "guest image " + image + " cannot be read: " + e.getMessage());
        }
        return PvhLoader.load(image.toString(), elf, memory, spec.memory(), spec.cmdline());
    }

    Machine(Vm vm, Gate gate, CpuEngine engine, Platform platform, Vm.Spec spec, PvhLoader.Loaded loaded) {
        this.vm = vm;
        this.gate = gate;
        this.engineName = engine.name();
        this.console = openConsole(spec.console());
        Path image = resolve(spec.kernel());
        this.bus = platform.busFactory().create(this);
        for (Platform.Device d : platform.devices()) {
            try {
                bus.attach(d.device(), d.bundle());
            } catch (RuntimeException e) {
                LOG.error("VM {}: device {} not attached: {}", vm.name(), d.device().name(), e.getMessage());
            }
        }
        this.vcpu = engine.createVcpu(vm.guestView(), 0, loaded.entry(), loaded.startInfo(), vm.cocoCpu());
        gate.kickWith(vcpu::requestExit);
        this.thread = Thread.ofPlatform().name("vcpu-" + vm.name() + "-0").unstarted(this::runVcpu);
        LOG.info("VM {}: booting {} on {} (entry 0x{}, {} MiB)", vm.name(), image.getFileName(), engine.name(),
                Long.toHexString(loaded.entry()), spec.memory() >> 20);
    }

    static Path resolve(String kernel) {
        Path p = Path.of(kernel);
        String home = System.getProperty("cloister.home");
        return p.isAbsolute() || home == null || Files.exists(p) ? p : Path.of(home).resolve(p);
    }

    private static OutputStream openConsole(String spec) {
        if (spec == null || spec.isBlank() || spec.equals("stdout")) {
            return new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), false);
        }
        if (spec.startsWith("file:")) {
            try {
                return new FileOutputStream(spec.substring(5));
            } catch (IOException e) {
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be opened: " + e.getMessage());
            }
        }
        if (spec.startsWith("tcp:")) {
            // Like QEMU's -serial tcp:HOST:PORT: connect to a listener (e.g. nc -l PORT).
            int colon = spec.lastIndexOf(':');
            String host = colon > 4 ? spec.substring(4, colon) : "127.0.0.1";
            try {
                java.net.Socket socket = new java.net.Socket(host, Integer.parseInt(spec.substring(colon + 1)));
                return new java.io.BufferedOutputStream(socket.getOutputStream(), 256) {
                    @Override
                    public void close() throws IOException {
                        super.close();
                        socket.close();
                    }
                };
            } catch (IOException | NumberFormatException e) {
                throw new CloisterException(Errno.ENOENT, "console " + spec + " cannot be reached: " + e.getMessage());
            }
        }
        throw new CloisterException(Errno.EINVAL, "console '" + spec + "' is none of stdout, file:PATH, tcp:HOST:PORT");
    }

    void start() {
        thread.start();
    }

    DeviceBus bus() {
        return bus;
    }

    private void runVcpu() {
        try {
            while (exitCode == null && gate.enter()) {
                try {
                    Exit e = vcpu.run();
                    exits.incrementAndGet();
                    dispatch(e);
                } finally {
                    gate.leave();
                }
            }
        } catch (RuntimeException | Error e) {
            failed = true;
            stopReason = "engine failed: " + e;
            exitCode = 1;
            LOG.error("VM {}: vCPU 0 failed", vm.name(), e);
        }
        flushConsole();
        if (exitCode != null) {
            vm.guestStopped(exitCode, stopReason, failed);
        }
    }

    private void dispatch(Exit e) {
        switch (e) {
            case Exit.Io io -> {
                if (io.write()) {
                    bus.write(Space.PIO, io.port(), io.size(), io.value());
                } else {
                    vcpu.complete(bus.read(Space.PIO, io.port(), io.size()));
                }
            }
            case Exit.Mmio m -> {
                if (m.write()) {
                    bus.write(Space.MMIO, m.gpa(), m.size(), m.value());
                } else {
                    vcpu.complete(bus.read(Space.MMIO, m.gpa(), m.size()));
                }
            }
            case Exit.Hypercall h -> {
                hypercalls.incrementAndGet();
                vcpu.complete(h.nr() == GuestRequest.HC_MAP_GPA_RANGE
                        ? vm.requestFromVcpu(new GuestRequest.MapGpaRange(h.arg0(), h.arg1(), h.arg2()))
                        : KVM_ENOSYS);
            }
            case Exit.Coco c -> vcpu.complete(vm.requestFromVcpu(c.request()));
            case Exit.Halt h -> finish(0, "halted", false);
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
    }

    private void finish(int code, String reason, boolean failure) {
        stopReason = reason;
        failed = failure;
        exitCode = code;
    }

    /** isa-debug-exit: the guest wrote v; QEMU exits with (v << 1) | 1, Cloister with v. */
    @Override
    public void exit(int status) {
        finish(status >>> 1, "guest exited with status " + (status >>> 1), false);
        vcpu.requestExit();
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
                vm.memory().write(gpa, src);
            }
        };
    }

    @Override
    public OutputStream console() {
        return console;
    }

    private void flushConsole() {
        try {
            console.flush();
        } catch (IOException e) {
            LOG.debug("console flush: {}", e.toString());
        }
    }

    /** Ends the vCPU thread (the gate is dead by now) and releases the bus and console. */
    void close() {
        vcpu.requestExit();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        vcpu.close();
        bus.close();
        flushConsole();
        if (!(console instanceof PrintStream)) {
            try {
                console.close();
            } catch (IOException e) {
                LOG.debug("console close: {}", e.toString());
            }
        }
    }

    List<String> devices() {
        return bus.devices();
    }

    long instructions() {
        return vcpu.instructions();
    }

    java.util.Map<String, Long> registers() {
        return vcpu.registers();
    }
}
