package io.cloister.devices;

import java.util.function.Consumer;

import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.DeliveryMode;

/**
 * An I/O APIC (Intel 82093AA datasheet, 290566; version 0x20 with the EOI register, as ICH
 * chipsets and QEMU have) of 24 pins at {@link #BASE}: IOREGSEL at +0x00, IOWIN at +0x10, EOI at
 * +0x40; ID, version, arbitration and 24 redirection entries. Edge pins deliver on a rising edge
 * (one signalled while masked is lost, per the datasheet); level pins deliver while asserted and
 * set remote IRR until the local APIC's EOI for their vector. Not thread-safe: the owner
 * serialises.
 */
final class IoApic {
    static final long BASE = 0xfec00000L;
    static final int PINS = 24;
    static final int VERSION = 0x20 | ((PINS - 1) << 16);
    static final long MASKED = 1L << 16;
    static final long LEVEL = 1L << 15;
    static final long REMOTE_IRR = 1L << 14;
    static final long DELIVERY_STATUS = 1L << 12;

    private final Consumer<ApicMessage> out;
    int select;
    int id;
    final long[] redirection = new long[PINS];
    /** Input levels of the pins. */
    int levels;

    IoApic(Consumer<ApicMessage> out) {
        this.out = out;
        java.util.Arrays.fill(redirection, MASKED);
    }

    long read(long offset) {
        return switch ((int) offset) {
            case 0x00 -> select;
            case 0x10 -> readRegister(select);
            default -> 0;
        };
    }

    void write(long offset, long value) {
        switch ((int) offset) {
            case 0x00 -> select = (int) value & 0xff;
            case 0x10 -> writeRegister(select, (int) value);
            case 0x40 -> endOfInterrupt((int) value & 0xff);
            default -> { }
        }
    }

    int readRegister(int r) {
        if (r >= 0x10 && r < 0x10 + 2 * PINS) {
            long e = redirection[(r - 0x10) >>> 1];
            return (int) ((r & 1) == 0 ? e : e >>> 32);
        }
        return switch (r) {
            case 0 -> id << 24;
            case 1 -> VERSION;
            case 2 -> id << 24;
            default -> 0;
        };
    }

    void writeRegister(int r, int v) {
        if (r == 0) {
            id = (v >>> 24) & 0x0f;
            return;
        }
        if (r < 0x10 || r >= 0x10 + 2 * PINS) {
            return;
        }
        int pin = (r - 0x10) >>> 1;
        long old = redirection[pin];
        long e;
        if ((r & 1) == 0) { // delivery status and remote IRR are read-only
            e = (old & ~0xffffffffL) | (v & 0xffffffffL & ~(DELIVERY_STATUS | REMOTE_IRR)) | (old & REMOTE_IRR);
        } else {
            e = (old & 0xffffffffL) | ((long) v << 32);
        }
        if ((e & LEVEL) == 0) {
            e &= ~REMOTE_IRR; // an edge pin has no remote IRR
        }
        redirection[pin] = e;
        serviceLevel(pin);
    }

    /** A pin's input changed. */
    void setPin(int pin, boolean level) {
        int bit = 1 << pin;
        boolean was = (levels & bit) != 0;
        levels = level ? levels | bit : levels & ~bit;
        long e = redirection[pin];
        if ((e & LEVEL) == 0) {
            if (level && !was && (e & MASKED) == 0) {
                deliver(e);
            }
        } else {
            serviceLevel(pin);
        }
    }

    /** A level pin asserted, unmasked and not awaiting EOI delivers (again). */
    private void serviceLevel(int pin) {
        long e = redirection[pin];
        if ((e & LEVEL) != 0 && (levels & (1 << pin)) != 0 && (e & (MASKED | REMOTE_IRR)) == 0) {
            redirection[pin] = e | REMOTE_IRR;
            deliver(e);
        }
    }

    /** The local APIC's EOI of {@code vector}: level pins with it leave remote IRR, and deliver again if still asserted. */
    void endOfInterrupt(int vector) {
        for (int pin = 0; pin < PINS; pin++) {
            long e = redirection[pin];
            if ((e & REMOTE_IRR) != 0 && (e & 0xff) == vector) {
                redirection[pin] = e & ~REMOTE_IRR;
                serviceLevel(pin);
            }
        }
    }

    private void deliver(long e) {
        DeliveryMode mode = DeliveryMode.of((int) (e >>> 8));
        if (mode != null) {
            out.accept(new ApicMessage((int) (e >>> 56), (e & (1L << 11)) != 0, (int) (e & 0xff), mode, (e & LEVEL) != 0));
        }
    }
}
