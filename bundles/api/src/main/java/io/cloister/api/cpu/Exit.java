package io.cloister.api.cpu;

import org.osgi.annotation.versioning.ProviderType;

/** Why {@link Vcpu#run()} returned. */
@ProviderType
public sealed interface Exit {
    record Io(int port, int size, boolean write, long value) implements Exit {
    }

    record Mmio(long gpa, int size, boolean write, long value) implements Exit {
    }

    /** A {@code vmcall}/{@code vmmcall}: KVM ABI, nr in rax, arguments in rbx, rcx, rdx, rsi. */
    record Hypercall(long nr, long arg0, long arg1, long arg2, long arg3) implements Exit {
    }

    /**
     * A confidential-computing request the engine decoded from an instruction (TDX tdcall
     * MapGPA/Accept, SNP pvalidate); the VMM answers it through the backend policy.
     */
    record Coco(io.cloister.api.backend.GuestRequest request) implements Exit {
    }

    /** The guest touched a page whose private/shared state differs from the access (KVM_EXIT_MEMORY_FAULT). */
    record MemoryFault(long gpa, long size, boolean privateAccess) implements Exit {
    }

    record Halt() implements Exit {
    }

    /** Triple fault or an explicit shutdown. */
    record Shutdown(String reason) implements Exit {
    }

    /** The engine could not go on (unsupported instruction, internal error). */
    record Failure(String reason) implements Exit {
    }

    /** {@link Vcpu#requestExit()} was honoured. */
    record Interrupted() implements Exit {
    }
}
