package io.cloister.virtio;

import static io.cloister.virtio.GuestRam.U16;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import io.cloister.api.device.Space;

/** The MMIO transport and the split ring, driven as Linux drives them, with the entropy device behind. */
class VirtioMmioTest {
    final GuestRam ram = new GuestRam(1 << 20);
    final VirtioMmio dev = new VirtioMmio(Driver.BASE, 5, new VirtioRng());

    VirtioMmioTest() {
        dev.attach(ram);
    }

    @AfterEach
    void close() {
        dev.detach();
        ram.close();
    }

    @Test
    void identifiesAsAModernVirtioDevice() {
        Driver d = new Driver(dev, ram, 8, 0x10000);
        assertEquals(0x74726976, d.reg(0x000), "magic 'virt'");
        assertEquals(2, d.reg(0x004), "version 2: the modern layout");
        assertEquals(4, d.reg(0x008), "entropy");
        long f = d.deviceFeatures();
        assertTrue((f & VirtioDevice.F_VERSION_1) != 0 && (f & VirtioDevice.F_RING_EVENT_IDX) != 0
                && (f & VirtioDevice.F_RING_INDIRECT_DESC) != 0 && (f & VirtioDevice.F_ACCESS_PLATFORM) != 0, Long.toHexString(f));
        d.reg(0x030, 0);
        assertEquals(256, d.reg(0x034), "queue 0 exists");
        d.reg(0x030, 1);
        assertEquals(0, d.reg(0x034), "no queue 1");
        assertEquals(0, dev.read(Space.MMIO, Driver.BASE + 2, 2), "registers answer 32-bit accesses only");
    }

    @Test
    void featuresOkOnlyForASubsetWithVersion1() {
        Driver d = new Driver(dev, ram, 8, 0x10000);
        d.reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER);
        d.reg(0x024, 0);
        d.reg(0x020, 0); // a legacy driver: no VERSION_1
        d.reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER | VirtioMmio.STATUS_FEATURES_OK);
        assertEquals(0, d.reg(0x070) & VirtioMmio.STATUS_FEATURES_OK, "no VERSION_1: refused");
        d.reg(0x070, 0);
        d.reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER);
        d.reg(0x024, 1);
        d.reg(0x020, 1 | (1 << 20)); // VERSION_1 and a bit never offered
        d.reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER | VirtioMmio.STATUS_FEATURES_OK);
        assertEquals(0, d.reg(0x070) & VirtioMmio.STATUS_FEATURES_OK, "an unoffered feature: refused");
        d.reg(0x070, 0);
        assertEquals(0, d.reg(0x070), "reset");
        d.start(-1L);
        assertEquals(0xf, d.reg(0x070), "ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK");
    }

    @Test
    void requestsComeBackOnTheUsedRingWithAnInterrupt() throws Exception {
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1);
        int[] e = d.submit(new long[] {0x20000, 64, 1}, new long[] {0x20100, 32, 1});
        assertEquals(0, e[0], "head descriptor 0");
        assertEquals(96, e[1], "both writable buffers filled");
        assertTrue(ram.level, "line up while InterruptStatus is set");
        assertEquals(VirtioMmio.INT_USED_BUFFER, d.acknowledge());
        assertTrue(!ram.level, "line down after InterruptACK");
        byte[] a = ram.ram.asSlice(0x20000, 64).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        assertNotEquals(new String(new byte[64]), new String(a), "random bytes arrived");
        assertNull(d.next(), "one request, one used entry");
    }

    @Test
    void noInterruptWhenTheDriverSuppressesIt() throws Exception {
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1);
        ram.ram.set(U16, d.avail, (short) Virtqueue.AVAIL_F_NO_INTERRUPT);
        assertEquals(16, d.submit(new long[] {0x20000, 16, 1})[1]);
        assertEquals(List.of(), ram.irqs, "NO_INTERRUPT honoured");
    }

    @Test
    void eventIndexInterruptsOnlyWhenUsedEventIsPassed() throws Exception {
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1 | VirtioDevice.F_RING_EVENT_IDX);
        ram.ram.set(U16, d.avail + 4 + 2 * 8, (short) 1); // used_event: interrupt once used idx passes 1
        d.submit(new long[] {0x20000, 16, 1});
        assertEquals(List.of(), ram.irqs, "used idx 1 has not passed used_event 1");
        assertEquals(1, ram.ram.get(U16, d.used + 4 + 8 * 8), "avail_event: the device asks to hear of entry 1");
        d.submit(new long[] {0x20100, 16, 1});
        assertEquals(List.of("irq5+"), ram.irqs, "used idx 2 passed used_event 1");
    }

    @Test
    void indirectDescriptors() throws Exception {
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1 | VirtioDevice.F_RING_INDIRECT_DESC);
        long table = 0x30000;
        d.descriptor(table, 0, 0x20000, 10, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 1);
        d.descriptor(table, 1, 0x20100, 20, Virtqueue.DESC_F_WRITE, 0);
        d.descriptor(d.desc, 0, table, 32, Virtqueue.DESC_F_INDIRECT, 0);
        d.offer(0, true);
        dev.drain();
        assertArrayEquals(new int[] {0, 30}, d.next());
    }

    @Test
    void privateMemoryFailsTheRequestNotTheDevice() throws Exception {
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1);
        ram.privatePages.set(0x40);
        assertArrayEquals(new int[] {0, 0}, d.submit(new long[] {0x40000, 16, 1}), "nothing written into a private page");
        assertEquals(0, ram.ram.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0x40000));
        assertEquals(16, d.submit(new long[] {0x20000, 16, 1})[1], "the next request is served");
        assertEquals(0, d.reg(0x070) & VirtioMmio.STATUS_NEEDS_RESET);
    }

    /** Each way of breaking a ring ends in NEEDS_RESET with a config-change interrupt, and the device stays quiet until reset. */
    @Test
    void malformedRingsNeedAReset() throws Exception {
        // a chain that loops
        assertNeedsReset(d -> {
            d.descriptor(d.desc, 0, 0x20000, 8, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 1);
            d.descriptor(d.desc, 1, 0x20000, 8, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 0);
            d.offer(0, true);
        });
        // a head index outside the table
        assertNeedsReset(d -> d.offer(200, true));
        // a next index outside the table
        assertNeedsReset(d -> {
            d.descriptor(d.desc, 0, 0x20000, 8, Virtqueue.DESC_F_WRITE | Virtqueue.DESC_F_NEXT, 99);
            d.offer(0, true);
        });
        // a buffer that runs past guest memory
        assertNeedsReset(d -> d.offer(d.chain(new long[] {0xff000, 0x2000, 1}), true));
        // the driver claims more entries than the queue holds
        assertNeedsReset(d -> {
            d.ram.ram.set(U16, d.avail + 2, (short) 50);
            d.reg(0x050, 0);
        });
        // an indirect table inside an indirect table
        assertNeedsReset(d -> {
            d.descriptor(0x30000, 0, 0x30000, 16, Virtqueue.DESC_F_INDIRECT, 0);
            d.descriptor(d.desc, 0, 0x30000, 16, Virtqueue.DESC_F_INDIRECT, 0);
            d.offer(0, true);
        });
        // rings in private memory
        assertNeedsReset(d -> {
            d.ram.privatePages.set(0x10);
            d.offer(d.chain(new long[] {0x20000, 8, 1}), true);
        });
    }

    interface Breakage {
        void apply(Driver d) throws Exception;
    }

    private void assertNeedsReset(Breakage breakage) throws Exception {
        ram.privatePages.clear();
        ram.irqs.clear();
        ram.ram.fill((byte) 0);
        Driver d = new Driver(dev, ram, 8, 0x10000).start(VirtioDevice.F_VERSION_1 | VirtioDevice.F_RING_INDIRECT_DESC);
        breakage.apply(d);
        dev.drain();
        assertEquals(VirtioMmio.STATUS_NEEDS_RESET, d.reg(0x070) & VirtioMmio.STATUS_NEEDS_RESET, "NEEDS_RESET");
        assertEquals(VirtioMmio.INT_CONFIG_CHANGE, d.reg(0x060) & VirtioMmio.INT_CONFIG_CHANGE, "config-change interrupt");
        ram.privatePages.clear();
        d.offer(d.chain(new long[] {0x20000, 8, 1}), true);
        dev.drain();
        assertNull(d.next(), "a device that needs a reset serves nothing");
        d.reg(0x070, 0);
        assertEquals(0, d.reg(0x070), "reset clears it");
        assertTrue(!ram.level, "and the interrupt");
    }

    @Test
    void aQueueSizeThatIsNoPowerOfTwoIsRefused() {
        Driver d = new Driver(dev, ram, 6, 0x10000);
        d.reg(0x070, VirtioMmio.STATUS_ACKNOWLEDGE | VirtioMmio.STATUS_DRIVER);
        d.queue(0);
        assertEquals(VirtioMmio.STATUS_NEEDS_RESET, d.reg(0x070) & VirtioMmio.STATUS_NEEDS_RESET);
        d.reg(0x030, 0);
        assertEquals(0, d.reg(0x044), "the queue is not ready");
    }
}
