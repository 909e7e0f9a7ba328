package io.cloister.vmm;

/**
 * The safe point of a VM. Guest activity (a vCPU run slice, a conversion request) passes the gate
 * for its duration; closing the gate waits until nothing is inside and keeps new activity out,
 * so a backend can be swapped or a slot changed with no request half done.
 */
final class Gate {
    private boolean open;
    private boolean dead;
    private int inside;

    /** Waits while closed; false once the VM is stopped. */
    synchronized boolean enter() {
        while (!open && !dead) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        if (dead) {
            return false;
        }
        inside++;
        return true;
    }

    synchronized void leave() {
        if (--inside == 0) {
            notifyAll();
        }
    }

    /** What makes running vCPUs leave the gate soon (set by the VM once its vCPUs exist). */
    private Runnable kick = () -> { };

    synchronized void kickWith(Runnable kick) {
        this.kick = kick;
    }

    /** Closes, kicks whatever runs inside, and waits until nothing is inside. */
    synchronized void close() {
        open = false;
        kick.run();
        while (inside > 0) {
            try {
                wait();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a safe point");
            }
        }
    }

    synchronized void open() {
        if (!dead) {
            open = true;
            notifyAll();
        }
    }

    synchronized boolean isOpen() {
        return open;
    }

    /**
     * Closes for good; waiting activity gets false. Waits at most {@code millis} for activity
     * inside to leave (a vCPU that cannot be kicked out of its engine is left to notice later);
     * returns whether everything left.
     */
    synchronized boolean kill(long millis) {
        open = false;
        dead = true;
        kick.run();
        notifyAll();
        long deadline = System.currentTimeMillis() + millis;
        while (inside > 0) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            try {
                wait(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }
}
