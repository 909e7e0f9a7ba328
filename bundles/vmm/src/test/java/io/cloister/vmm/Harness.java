package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.BooleanSupplier;

import io.cloister.api.backend.BackendPolicy;
import io.cloister.devices.BusFactory;
import io.cloister.devices.DebugExit;
import io.cloister.devices.Hpet;
import io.cloister.devices.Uart16550;
import io.cloister.memory.MemoryManagerImpl;
import io.cloister.restrictedmem.RestrictedMemory;
import io.cloister.testkit.GuestImages;

/**
 * A VM as bin/vmm builds it (real memory, restricted memory, policy, bus and core devices) on a
 * {@link ScriptedEngine}, for tests of Vm and Machine. Close it: it checks that no page is left.
 */
final class Harness implements AutoCloseable {
    static final long MEMORY = 4 << 20;
    /** Generous: only a broken VMM waits this long. */
    static final long DEADLINE_MS = 30_000;

    final RestrictedMemory restricted = new RestrictedMemory();
    final ScriptedEngine engine = new ScriptedEngine();
    final BusFactory busFactory = new BusFactory(250);
    final ByteArrayOutputStream console = new ByteArrayOutputStream();
    StandaloneVm setup;
    Vm vm;

    /** A VM of {@code vcpus} on {@code policy}, created but not offered its policy yet. */
    Vm create(BackendPolicy policy, int vcpus) {
        setup = new StandaloneVm(engine, policy, new MemoryManagerImpl(), restricted, busFactory,
                List.of(Uart16550::new, DebugExit::new, Hpet::new));
        // A real PVH image is loaded (the scripted vCPUs ignore its code, but the VM builds as for any guest).
        vm = setup.create("t", GuestImages.of("hello.elf"), MEMORY, "", vcpus, console);
        return vm;
    }

    /** A VM of {@code vcpus} on {@code policy}, booted: vCPU 0 runs its program. */
    Vm boot(BackendPolicy policy, int vcpus) {
        create(policy, vcpus).offer(setup.backend());
        return vm;
    }

    /** Waits until the guest has ended; its exit code. */
    int awaitExit() throws InterruptedException {
        Integer code = vm.awaitExit(DEADLINE_MS);
        if (code == null) {
            throw new AssertionError("the guest did not end: " + vm.status());
        }
        return code;
    }

    String console() {
        return console.toString(StandardCharsets.UTF_8);
    }

    /** Waits until {@code condition} holds, failing after the deadline. */
    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.currentTimeMillis() + DEADLINE_MS;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(1); // a poll interval, not a delay the test depends on
        }
    }

    /** Destroys the VM and checks that it left no restricted-memory file or page behind. */
    @Override
    public void close() {
        try {
            if (vm != null) {
                vm.destroy();
                assertEquals(0, restricted.stats().files(), "restricted files left after destroy");
                assertEquals(0, restricted.stats().allocatedPages(), "pages left after destroy");
            }
        } finally {
            busFactory.close();
        }
    }
}
