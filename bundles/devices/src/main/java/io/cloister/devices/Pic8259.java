package io.cloister.devices;

/**
 * One Intel 8259A programmable interrupt controller (datasheet 231468; the cascade of two as in
 * every PC is {@link Interrupts}'s). Initialisation words ICW1-4, operation words OCW1 (mask),
 * OCW2 (EOI, rotation, priority), OCW3 (read IRR/ISR, poll, special mask); fully nested priority
 * with rotation; edge or level per input, from the ELCR (ports 0x4d0/0x4d1). Not thread-safe: the
 * owner serialises.
 */
final class Pic8259 {
    int irr;
    int isr;
    /**
     * All inputs masked at power-up, as the firmware of a PC leaves the 8259s: the BSP's LINT0 is
     * the open virtual wire (see the local APIC's reset), so nothing may reach it before the guest
     * initialises the 8259s (ICW1 clears the mask) or unmasks an input.
     */
    int imr = 0xff;
    /** Input levels seen last (edge detection), and which inputs are level-triggered. */
    int lastLevels;
    int elcr;
    final int elcrMask;
    /** The input of lowest priority is {@code (priorityAdd + 7) & 7}: rotation moves it. */
    int priorityAdd;
    int vectorBase;
    boolean readIsr;
    boolean poll;
    boolean specialMask;
    boolean autoEoi;
    boolean rotateOnAutoEoi;
    boolean specialFullyNested;
    /** 0: operating; 1-3: expecting ICW2, ICW3, ICW4. */
    int initStep;
    boolean needIcw4;
    boolean single;

    Pic8259(int elcrMask) {
        this.elcrMask = elcrMask;
    }

    /** A change of input {@code n}'s level: edge inputs latch a rising edge, level inputs follow it. */
    void setInput(int n, boolean level) {
        int bit = 1 << n;
        if ((elcr & bit) != 0) {
            irr = level ? irr | bit : irr & ~bit;
        } else if (level && (lastLevels & bit) == 0) {
            irr |= bit;
        }
        lastLevels = level ? lastLevels | bit : lastLevels & ~bit;
    }

    /** Priority rank (0 highest) of the highest-priority bit of {@code mask}, 8 if none. */
    int priority(int mask) {
        if ((mask & 0xff) == 0) {
            return 8;
        }
        int p = 0;
        while ((mask & (1 << ((p + priorityAdd) & 7))) == 0) {
            p++;
        }
        return p;
    }

    /**
     * The input that would be delivered now, or -1: the highest-priority unmasked request of
     * higher priority than any in service (the cascade input excepted in special fully nested
     * mode, so a slave's higher request can interrupt its own service).
     */
    int pending(boolean master) {
        int p = priority(irr & ~imr);
        if (p == 8) {
            return -1;
        }
        int inService = isr;
        if (specialMask) {
            inService &= ~imr;
        }
        if (specialFullyNested && master) {
            inService &= ~(1 << 2);
        }
        return p < priority(inService) ? (p + priorityAdd) & 7 : -1;
    }

    /** The INTA cycle for input {@code n}: into service (unless auto-EOI); an edge request is consumed. */
    void acknowledge(int n) {
        int bit = 1 << n;
        if (autoEoi) {
            if (rotateOnAutoEoi) {
                priorityAdd = (n + 1) & 7;
            }
        } else {
            isr |= bit;
        }
        if ((elcr & bit) == 0) {
            irr &= ~bit;
        }
    }

    /** A write to the command port (A0 = 0): ICW1, OCW2 or OCW3. */
    void writeCommand(int v) {
        if ((v & 0x10) != 0) { // ICW1: everything restarts, edge detection included
            lastLevels = 0;
            irr &= elcr;
            imr = 0;
            isr = 0;
            priorityAdd = 0;
            vectorBase = 0;
            readIsr = false;
            poll = false;
            specialMask = false;
            autoEoi = false;
            rotateOnAutoEoi = false;
            specialFullyNested = false;
            needIcw4 = (v & 0x01) != 0;
            single = (v & 0x02) != 0;
            initStep = 1;
        } else if ((v & 0x08) != 0) { // OCW3
            if ((v & 0x04) != 0) {
                poll = true;
            }
            if ((v & 0x02) != 0) {
                readIsr = (v & 0x01) != 0;
            }
            if ((v & 0x40) != 0) {
                specialMask = (v & 0x20) != 0;
            }
        } else { // OCW2
            int level = v & 7;
            switch (v >>> 5) {
                case 0 -> rotateOnAutoEoi = false;
                case 4 -> rotateOnAutoEoi = true;
                case 1, 5 -> { // non-specific EOI (5: and rotate)
                    int p = priority(isr);
                    if (p != 8) {
                        int n = (p + priorityAdd) & 7;
                        isr &= ~(1 << n);
                        if (v >>> 5 == 5) {
                            priorityAdd = (n + 1) & 7;
                        }
                    }
                }
                case 3 -> isr &= ~(1 << level); // specific EOI
                case 6 -> priorityAdd = (level + 1) & 7; // set priority: level becomes the lowest
                case 7 -> { // rotate on specific EOI
                    isr &= ~(1 << level);
                    priorityAdd = (level + 1) & 7;
                }
                default -> { } // 2: no operation
            }
        }
    }

    /** A write to the data port (A0 = 1): the next ICW while initialising, else OCW1 (the mask). */
    void writeData(int v) {
        switch (initStep) {
            case 1 -> {
                vectorBase = v & 0xf8;
                initStep = single ? (needIcw4 ? 3 : 0) : 2;
            }
            case 2 -> initStep = needIcw4 ? 3 : 0; // ICW3: the cascade wiring is fixed here
            case 3 -> {
                specialFullyNested = (v & 0x10) != 0;
                autoEoi = (v & 0x02) != 0;
                initStep = 0;
            }
            default -> imr = v & 0xff;
        }
    }

    /** A read of the command port: IRR or ISR as OCW3 chose (poll reads are {@link Interrupts}'s). */
    int readCommand() {
        return readIsr ? isr : irr;
    }

    void writeElcr(int v) {
        elcr = v & elcrMask;
    }
}
