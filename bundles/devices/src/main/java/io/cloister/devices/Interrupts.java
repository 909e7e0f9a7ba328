package io.cloister.devices;

import java.util.List;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.BusDevice;
import io.cloister.api.device.Claim;
import io.cloister.api.device.Space;
import io.cloister.api.irq.ApicMessage;
import io.cloister.api.irq.LocalApics;
import io.cloister.api.irq.PlatformInterrupts;

/**
 * A VM's interrupt controllers as a PC has them: two cascaded 8259s (master 0x20/0x21, slave
 * 0xa0/0xa1 on master input 2, ELCR 0x4d0/0x4d1) whose output goes to LINT0 of the local APICs
 * (virtual wire), and an I/O APIC at 0xfec00000 whose messages go to the local APICs. Line n
 * (0-15) is both 8259 input n and I/O APIC pin n, except IRQ 0 on pin 2 (QEMU's wiring, which its
 * and our MADT declare as an interrupt source override). All state is guarded by this object's
 * monitor; the calls out to the local APICs must not call back in (they only post).
 */
final class Interrupts implements PlatformInterrupts {
    final Pic8259 master = new Pic8259(0xf8);
    final Pic8259 slave = new Pic8259(0xde);
    final IoApic ioapic;
    private final LocalApics apics;
    private boolean extInt;
    /** Messages and ExtINT changes with no local APIC to take them (an engine without interrupts). */
    long undelivered;

    Interrupts(LocalApics apics) {
        this.apics = apics;
        this.ioapic = new IoApic(this::toApics);
    }

    private void toApics(ApicMessage m) {
        if (apics == null) {
            undelivered++;
        } else {
            apics.deliver(m);
        }
    }

    @Override
    public synchronized void setLevel(int irq, boolean level) {
        if (irq < 0 || irq >= IoApic.PINS) {
            throw new CloisterException(Errno.EINVAL, "interrupt line " + irq + " is outside 0.." + (IoApic.PINS - 1));
        }
        if (irq < 8 && irq != 2) {
            master.setInput(irq, level);
        } else if (irq >= 8 && irq < 16) {
            slave.setInput(irq - 8, level);
        }
        ioapic.setPin(irq == 0 ? 2 : irq, level);
        updatePic();
    }

    /** Carries the slave's output to master input 2 and the master's to LINT0. */
    private void updatePic() {
        master.setInput(2, slave.pending(false) >= 0);
        boolean out = master.pending(true) >= 0;
        if (out != extInt) {
            extInt = out;
            if (apics == null) {
                undelivered++;
            } else {
                apics.setExtInt(out);
            }
        }
    }

    @Override
    public synchronized int acknowledgeExtInt() {
        int irq = master.pending(true);
        int vector;
        if (irq < 0) {
            vector = master.vectorBase + 7; // spurious IRQ 7
        } else {
            if (irq == 2) {
                int s = slave.pending(false);
                if (s >= 0) {
                    slave.acknowledge(s);
                } else {
                    s = 7; // spurious IRQ 15
                }
                vector = slave.vectorBase + s;
            } else {
                vector = master.vectorBase + irq;
            }
            master.acknowledge(irq);
        }
        updatePic();
        return vector;
    }

    @Override
    public synchronized void endOfInterrupt(int vector) {
        ioapic.endOfInterrupt(vector);
    }

    /** Port reads of the 8259s and the ELCR. */
    private synchronized long readPort(long port) {
        Pic8259 pic = port < 0x80 ? master : slave;
        if (port == 0x4d0 || port == 0x4d1) {
            return (port == 0x4d0 ? master : slave).elcr;
        }
        if (pic.poll) { // OCW3 poll: the pending input (bit 7 set) is acknowledged as by INTA
            pic.poll = false;
            int n = pic.pending(pic == master);
            if (n < 0) {
                return 0;
            }
            pic.acknowledge(n);
            updatePic();
            return 0x80 | n;
        }
        return (port & 1) == 0 ? pic.readCommand() : pic.imr;
    }

    private synchronized void writePort(long port, int v) {
        if (port == 0x4d0 || port == 0x4d1) {
            (port == 0x4d0 ? master : slave).writeElcr(v);
        } else {
            Pic8259 pic = port < 0x80 ? master : slave;
            if ((port & 1) == 0) {
                pic.writeCommand(v);
            } else {
                pic.writeData(v);
            }
        }
        updatePic();
    }

    /** The 8259 pair and ELCR on port IO. */
    BusDevice pic() {
        return new BusDevice() {
            @Override
            public String name() {
                return "i8259";
            }

            @Override
            public List<Claim> claims() {
                return List.of(new Claim(Space.PIO, 0x20, 2), new Claim(Space.PIO, 0xa0, 2), new Claim(Space.PIO, 0x4d0, 2));
            }

            @Override
            public long read(Space space, long address, int size) {
                return readPort(address);
            }

            @Override
            public void write(Space space, long address, int size, long value) {
                writePort(address, (int) value & 0xff);
            }
        };
    }

    /** The I/O APIC on MMIO (32-bit registers; other sizes read as zero and are ignored, as on hardware). */
    BusDevice ioapic() {
        return new BusDevice() {
            @Override
            public String name() {
                return "ioapic";
            }

            @Override
            public List<Claim> claims() {
                return List.of(new Claim(Space.MMIO, IoApic.BASE, 0x100));
            }

            @Override
            public long read(Space space, long address, int size) {
                synchronized (Interrupts.this) {
                    return size == 4 ? ioapic.read(address - IoApic.BASE) & 0xffffffffL : 0;
                }
            }

            @Override
            public void write(Space space, long address, int size, long value) {
                if (size == 4) {
                    synchronized (Interrupts.this) {
                        ioapic.write(address - IoApic.BASE, value);
                    }
                }
            }
        };
    }
}
