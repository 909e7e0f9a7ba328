package io.cloister.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.ToLongFunction;

import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.device.DeviceContext;
import io.cloister.api.device.DmaView;
import io.cloister.api.device.Space;
import io.cloister.api.restricted.PageState;
import io.cloister.devices.DebugExit;
import io.cloister.devices.Uart16550;
import io.cloister.internal.pvh.PvhLoader;

/**
 * Boots a guest ELF on an engine with the real UART and debug-exit devices, without a framework:
 * for engine tests and benchmarks.
 */
public final class GuestRunner {
    /** How a run ended: exit status from isa-debug-exit (or -1), console text, reason. */
    public record Result(int exitStatus, String console, String stop, long hypercalls, long instructions) {
    }

    /** The repository's guests/ directory, found from the working directory. */
    public static Path guests() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isDirectory(p.resolve("guests/bin"))) {
                return p.resolve("guests");
            }
        }
        throw new IllegalStateException("guests/ not found above " + Path.of("").toAbsolutePath());
    }

    private GuestRunner() {
    }

    public static Result run(CpuEngine engine, Path elf, long ramBytes, String cmdline) throws IOException {
        return run(engine, elf, ramBytes, cmdline, h -> -1000); // -KVM_ENOSYS
    }

    public static Result run(CpuEngine engine, Path elf, long ramBytes, String cmdline, ToLongFunction<Exit.Hypercall> hypercalls)
            throws IOException {
        try (TestGuest g = new TestGuest("runner", ramBytes, PageState.SHARED)) {
            PvhLoader.Loaded loaded = PvhLoader.load(elf.getFileName().toString(), Files.readAllBytes(elf), g.memory, ramBytes, cmdline);
            ByteArrayOutputStream console = new ByteArrayOutputStream();
            int[] status = {-1};
            DeviceContext ctx = new DeviceContext() {
                public String vmName() {
                    return "runner";
                }

                public DmaView dma() {
                    return new DmaView() {
                        public void read(long gpa, MemorySegment dst) {
                            g.memory.read(gpa, dst);
                        }

                        public void write(long gpa, MemorySegment src) {
                            g.memory.write(gpa, src);
                        }
                    };
                }

                public void exit(int s) {
                    status[0] = s;
                }

                public void reset() {
                    status[0] = 0;
                }

                public OutputStream console() {
                    return console;
                }

                public io.cloister.api.device.InterruptLine interruptLine(int irq) {
                    throw new io.cloister.api.CloisterException(io.cloister.api.Errno.EOPNOTSUPP, "the test runner has no interrupt controllers");
                }

                public io.cloister.api.device.VmClock clock() {
                    throw new io.cloister.api.CloisterException(io.cloister.api.Errno.EOPNOTSUPP, "the test runner has no VM clock");
                }
            };
            Uart16550 uart = new Uart16550();
            DebugExit debugExit = new DebugExit();
            uart.attach(ctx);
            debugExit.attach(ctx);
            long calls = 0;
            try (io.cloister.api.cpu.EngineVm vm = engine.createVm(g.view, io.cloister.api.backend.CocoCpu.NONE);
                    Vcpu cpu = vm.createVcpu(0, loaded.entry(), loaded.startInfo())) {
                while (true) {
                    Exit e = cpu.run();
                    String text = console.toString(StandardCharsets.UTF_8);
                    long n = cpu.instructions();
                    switch (e) {
                        case Exit.Io io when io.port() >= 0x3f8 && io.port() < 0x400 -> {
                            if (io.write()) {
                                uart.write(Space.PIO, io.port(), io.size(), io.value());
                            } else {
                                cpu.complete(uart.read(Space.PIO, io.port(), io.size()));
                            }
                        }
                        case Exit.Io io when io.port() >= 0xf4 && io.port() < 0xf8 -> {
                            if (io.write()) {
                                debugExit.write(Space.PIO, io.port(), io.size(), io.value());
                                return new Result(status[0], console.toString(StandardCharsets.UTF_8), "exit", calls, cpu.instructions());
                            }
                            cpu.complete(-1);
                        }
                        case Exit.Io io -> {
                            if (!io.write()) {
                                cpu.complete(-1);
                            }
                        }
                        case Exit.Mmio m -> {
                            if (!m.write()) {
                                cpu.complete(-1);
                            }
                        }
                        case Exit.Hypercall h -> {
                            calls++;
                            cpu.complete(hypercalls.applyAsLong(h));
                        }
                        case Exit.Halt h -> {
                            return new Result(status[0], text, "halt", calls, n);
                        }
                        case Exit.Shutdown s -> {
                            return new Result(status[0], text, "shutdown: " + s.reason(), calls, n);
                        }
                        case Exit.Failure f -> {
                            return new Result(status[0], text, "failure: " + f.reason(), calls, n);
                        }
                        case Exit.MemoryFault f -> {
                            return new Result(status[0], text, "memory fault: " + f, calls, n);
                        }
                        case Exit.Coco c -> cpu.complete(-95); // no backend here
                        case Exit.Interrupted i -> {
                        }
                    }
                }
            }
        }
    }
}
