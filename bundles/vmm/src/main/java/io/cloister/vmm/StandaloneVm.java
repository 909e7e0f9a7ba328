package io.cloister.vmm;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.bus.DeviceBusFactory;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.device.BusDevice;
import io.cloister.api.memory.MemoryManager;
import io.cloister.api.restricted.RestrictedMemoryProvider;

/**
 * A VM made from plain objects instead of services, for engine tests and benchmarks: the same
 * {@link Vm} and {@link Machine} (one exit loop) that bin/vmm runs, without a framework. The
 * console is kept in memory.
 *
 * <p>Public so that tests of other modules can reach it, but its package is private to the vmm
 * bundle (bnd exports only packages marked {@code @Export}), so no bundle can.
 */
public final class StandaloneVm {
    /**
     * How a guest ended: its exit code (isa-debug-exit's value, 0 when all vCPUs halted, 1 on a
     * failure), the VM's final status, whether that is a failure, the console text and counters.
     */
    public record Result(int exitCode, String status, boolean failed, String console, long instructions, long exits,
            long hypercalls, int startedVcpus) {
    }

    private final CpuEngine engine;
    private final Backend backend;
    private final MemoryManager memory;
    private final RestrictedMemoryProvider restricted;
    private final DeviceBusFactory busFactory;
    private final List<Platform.Device> devices = new ArrayList<>();

    /**
     * @param devices one factory per device; each VM run gets fresh instances, as each VM gets its
     *                own instance of a prototype-scoped device service
     */
    public StandaloneVm(CpuEngine engine, BackendPolicy policy, MemoryManager memory, RestrictedMemoryProvider restricted,
            DeviceBusFactory busFactory, List<Supplier<? extends BusDevice>> devices) {
        this.engine = engine;
        this.backend = new Backend(policy.name(), policy, "standalone");
        this.memory = memory;
        this.restricted = restricted;
        this.busFactory = busFactory;
        for (Supplier<? extends BusDevice> d : devices) {
            BusDevice probe = d.get();
            this.devices.add(new Platform.Device(probe.name(), new Platform.Instances() {
                @Override
                public BusDevice get() {
                    return d.get();
                }

                @Override
                public void release(BusDevice instance) {
                }
            }, "standalone", probe.claims()));
        }
    }

    /** Boots the PVH ELF with one vCPU and waits (at most ten minutes) until the guest ends. */
    public Result run(Path elf, long memoryBytes, String cmdline) throws InterruptedException {
        return run(elf, memoryBytes, cmdline, 1, 600_000);
    }

    /**
     * Boots the PVH ELF and waits until the guest ends; a guest still running after
     * {@code timeoutMillis} is stopped and reported as an {@link IllegalStateException}.
     */
    public Result run(Path elf, long memoryBytes, String cmdline, int vcpus, long timeoutMillis) throws InterruptedException {
        return run(elf, memoryBytes, cmdline, vcpus, timeoutMillis, -1);
    }

    /**
     * As {@link #run(Path, long, String, int, long)}, on deterministic time when {@code icount} is
     * 0 or more: each retired instruction is 2^icount ns of VM time (QEMU's -icount shift=N,sleep=off).
     */
    public Result run(Path elf, long memoryBytes, String cmdline, int vcpus, long timeoutMillis, int icount) throws InterruptedException {
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        Vm vm = create("standalone", elf, memoryBytes, cmdline, vcpus, console, icount);
        try {
            vm.offer(backend);
            if (vm.machine() == null) {
                throw new CloisterException(Errno.EINVAL, vm.status());
            }
            Integer code = vm.awaitExit(timeoutMillis);
            if (code == null) {
                throw new IllegalStateException("the guest " + elf.getFileName() + " did not end within " + timeoutMillis + " ms");
            }
            Machine m = vm.machine();
            m.joinVcpus(10_000); // the guest has ended: every vCPU is on its way out; then the counters are final
            return new Result(code, vm.status(), vm.state() == io.cloister.api.vm.VmState.FAILED,
                    console.toString(StandardCharsets.UTF_8), m.instructions(), m.exits.get(), m.hypercalls.get(),
                    m.startedVcpus());
        } finally {
            vm.destroy();
        }
    }

    /** A VM of this setup, not yet offered its policy ({@link #backend()}); its console goes to {@code console}. */
    Vm create(String name, Path elf, long memoryBytes, String cmdline, int vcpus, OutputStream console) {
        return create(name, elf, memoryBytes, cmdline, vcpus, console, -1);
    }

    private Vm create(String name, Path elf, long memoryBytes, String cmdline, int vcpus, OutputStream console, int icount) {
        return new Vm(new Vm.Spec(name, memoryBytes, backend.name(), engine.name(), false, true, elf.toAbsolutePath().toString(),
                cmdline, vcpus, "memory", "", icount), memory, restricted, platform(console));
    }

    Backend backend() {
        return backend;
    }

    private Platform platform(OutputStream console) {
        return new Platform() {
            @Override
            public Backend backend(String name) {
                return backend.name().equals(name) ? backend : null;
            }

            @Override
            public CpuEngine engine(String setting) {
                return engine;
            }

            @Override
            public String engineMissing(String setting) {
                return null;
            }

            @Override
            public DeviceBusFactory busFactory() {
                return busFactory;
            }

            @Override
            public List<Device> devices() {
                return devices;
            }

            @Override
            public OutputStream openConsole(String spec) {
                return console;
            }
        };
    }
}
