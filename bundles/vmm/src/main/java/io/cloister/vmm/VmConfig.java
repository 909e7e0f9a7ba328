package io.cloister.vmm;

import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/** A VM, as a ConfigAdmin factory configuration of PID {@value VmComponent#PID}. */
@ObjectClassDefinition(name = "Cloister VM", description = "One virtual machine")
@interface VmConfig {
    @AttributeDefinition(description = "VM name, unique in the runtime")
    String name();

    @AttributeDefinition(description = "Guest RAM: bytes, or with a K, M or G suffix")
    String memory() default "64M";

    @AttributeDefinition(description = "Backend policy: plain, sev, snp, tdx, pkvm")
    String backend() default "plain";

    @AttributeDefinition(description = "CPU engine: emulator, kvm or auto")
    String engine() default "auto";

    @AttributeDefinition(description = "Legacy SMM: an SMRAM window at 0xfeda0000 aliasing RAM at 0xa0000 (plain guests only)")
    boolean smm() default false;

    @AttributeDefinition(description = "Start the VM once its backend is there")
    boolean autostart() default true;

    @AttributeDefinition(description = "Guest image: a PVH ELF or a Linux bzImage; relative paths are under the distribution. Empty: no guest")
    String kernel() default "";

    @AttributeDefinition(description = "Guest command line")
    String cmdline() default "";

    @AttributeDefinition(description = "Initial RAM disk given to the kernel (PVH module 0, bzImage ramdisk). Empty: none")
    String initrd() default "";

    @AttributeDefinition(description = "Number of vCPUs")
    int vcpus() default 1;

    @AttributeDefinition(description = "Deterministic time: each retired instruction is 2^icount ns of VM time (QEMU's -icount "
            + "shift=N,sleep=off; one vCPU, the emulator engine); -1: VM time follows the host's clock")
    int icount() default -1;

    @AttributeDefinition(description = "Console: stdout, file:PATH, or tcp:HOST:PORT (connects to a listener)")
    String console() default "stdout";
}
