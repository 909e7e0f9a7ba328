package io.cloister.cpu.x86;

/**
 * What the exit a vCPU just reported waits for: where the VMM's answer ({@code Vcpu.complete})
 * goes. None pending is {@code null}. One record per kind of request, so a new one cannot be
 * forgotten in {@code X86Vcpu.complete} (the switch over this sealed type is exhaustive).
 */
sealed interface Awaiting {
    /** A port IN of {@code size} bytes: the value goes into the accumulator. */
    record PortIn(int size) implements Awaiting {
    }

    /** VMCALL/VMMCALL: the hypercall's result goes into RAX. */
    record Hypercall() implements Awaiting {
    }

    /** A device read (MMIO, INS) the instruction needs: the answer fills its access-log entry, and it runs again. */
    record DeviceRead(int entry) implements Awaiting {
    }

    /** TDG.VP.VMCALL&lt;MapGPA&gt;: the TDCALL succeeds, the VMCALL's status goes to R10. */
    record TdxMapGpa() implements Awaiting {
    }

    /** TDG.MEM.PAGE.ACCEPT: its status goes to RAX. */
    record TdxAccept() implements Awaiting {
    }

    /** PVALIDATE: its status goes to EAX. */
    record SnpValidate() implements Awaiting {
    }

    /** A page-state change through the GHCB MSR protocol: the response goes into the GHCB MSR. */
    record GhcbPageStateChange() implements Awaiting {
    }
}
