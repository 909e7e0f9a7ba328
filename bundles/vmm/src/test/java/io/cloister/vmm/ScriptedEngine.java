package io.cloister.vmm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

import io.cloister.api.backend.CocoCpu;
import io.cloister.api.cpu.CpuEngine;
import io.cloister.api.cpu.EngineVm;
import io.cloister.api.cpu.Exit;
import io.cloister.api.cpu.Vcpu;
import io.cloister.api.memory.GuestView;

/**
 * A CPU engine whose vCPUs run Java code instead of guest instructions: each {@code run()} asks
 * the vCPU's {@link Program} for its next exit, and counts as one retired instruction. It lets
 * the VMM's dispatch be tested with exits a real guest can hardly produce on demand (memory
 * faults, failures, an engine that throws) and with exact control of when a vCPU is inside the
 * engine; the engines themselves are tested with real guests in cpu-x86 and cpu-kvm.
 */
final class ScriptedEngine implements CpuEngine {
    /** What a vCPU does: its next exit, given how often it was asked before ({@code step}). */
    @FunctionalInterface
    interface Program {
        Exit next(ScriptedVcpu cpu, int step) throws InterruptedException;

        /** These exits in order, then a guest that loops until kicked, again and again. */
        static Program of(Exit... exits) {
            return (cpu, step) -> step < exits.length ? exits[step] : cpu.spin();
        }

        /** The exits the test {@link ScriptedVcpu#feed feeds}, as they come; in between, a guest that loops until kicked. */
        static Program fed() {
            return (cpu, step) -> cpu.nextFed();
        }
    }

    private final Map<Integer, Program> programs = new ConcurrentHashMap<>();
    final List<ScriptedVcpu> vcpus = new CopyOnWriteArrayList<>();
    /** Ranges reported by {@link EngineVm#memoryWritten}: {gpa, length}. */
    final List<long[]> written = new CopyOnWriteArrayList<>();
    volatile boolean vmClosed;

    ScriptedEngine program(int vcpu, Program p) {
        programs.put(vcpu, p);
        return this;
    }

    /** The vCPU of this index once the VMM has made it. */
    ScriptedVcpu vcpu(int index) {
        for (ScriptedVcpu v : vcpus) {
            if (v.index == index) {
                return v;
            }
        }
        return null;
    }

    @Override
    public String name() {
        return "scripted";
    }

    @Override
    public String unavailableReason() {
        return null;
    }

    @Override
    public EngineVm createVm(GuestView memory, CocoCpu coco) {
        return new EngineVm() {
            @Override
            public Vcpu createVcpu(int index, long entry, long startInfo) {
                ScriptedVcpu v = new ScriptedVcpu(index, entry, startInfo, programs.getOrDefault(index, Program.of()));
                vcpus.add(v);
                return v;
            }

            @Override
            public void memoryWritten(long gpa, long length) {
                written.add(new long[] {gpa, length});
            }

            @Override
            public void close() {
                vmClosed = true;
            }
        };
    }

    /** A scripted vCPU; it counts one instruction per exit. */
    static final class ScriptedVcpu implements Vcpu {
        final int index;
        final long entry;
        final long startInfo;
        private final Program program;
        /** Values the VMM completed reads and hypercalls with, in order. */
        final List<Long> completions = Collections.synchronizedList(new ArrayList<>());
        /** Calls of {@link #run()}, one instruction each. */
        private final AtomicLong runs = new AtomicLong();
        /** Calls of the program. */
        private int steps;
        private boolean kicked;
        private boolean inside;
        volatile Thread thread;
        volatile boolean closed;
        /** A vCPU is closed once (for KVM, a second close could close another file's descriptor). */
        final java.util.concurrent.atomic.AtomicInteger closes = new java.util.concurrent.atomic.AtomicInteger();

        ScriptedVcpu(int index, long entry, long startInfo, Program program) {
            this.index = index;
            this.entry = entry;
            this.startInfo = startInfo;
            this.program = program;
        }

        @Override
        public int index() {
            return index;
        }

        @Override
        public Exit run() {
            thread = Thread.currentThread();
            try {
                synchronized (this) {
                    inside = true;
                    notifyAll();
                    if (kicked) { // kicked before it entered: leaves at once, as KVM's immediate_exit
                        kicked = false;
                        return new Exit.Interrupted();
                    }
                }
                return program.next(this, steps++);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return new Exit.Failure("interrupted");
            } finally {
                runs.incrementAndGet();
                synchronized (this) {
                    inside = false;
                    notifyAll();
                }
            }
        }

        /** For programs: stays in the guest, as a loop would, until the VMM kicks the vCPU out. */
        synchronized Exit spin() throws InterruptedException {
            while (!kicked) {
                wait();
            }
            kicked = false;
            return new Exit.Interrupted();
        }

        private final java.util.ArrayDeque<Exit> fed = new java.util.ArrayDeque<>();

        /** Gives a {@link Program#fed()} vCPU its next exit. */
        synchronized void feed(Exit e) {
            fed.add(e);
            notifyAll();
        }

        private synchronized Exit nextFed() throws InterruptedException {
            while (!kicked && fed.isEmpty()) {
                wait();
            }
            if (!fed.isEmpty()) {
                return fed.remove();
            }
            kicked = false;
            return new Exit.Interrupted();
        }

        /** Whether the vCPU is in {@link #run()} now. */
        synchronized boolean inside() {
            return inside;
        }

        /** Waits until the vCPU is in {@link #run()} (at most {@code millis}); whether it is. */
        synchronized boolean awaitInside(long millis) throws InterruptedException {
            long deadline = System.currentTimeMillis() + millis;
            while (!inside && System.currentTimeMillis() < deadline) {
                wait(Math.max(1, deadline - System.currentTimeMillis()));
            }
            return inside;
        }

        @Override
        public void complete(long value) {
            completions.add(value);
        }

        @Override
        public Map<String, Long> registers() {
            return Map.of("rip", entry + runs.get(), "rbx", startInfo);
        }

        @Override
        public long instructions() {
            return runs.get();
        }

        @Override
        public synchronized void requestExit() {
            kicked = true;
            notifyAll();
        }

        @Override
        public void close() {
            closed = true;
            closes.incrementAndGet();
        }
    }
}
