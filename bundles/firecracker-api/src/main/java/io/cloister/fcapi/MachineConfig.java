package io.cloister.fcapi;

import java.util.Set;

import jakarta.json.JsonObject;

import io.cloister.internal.vmconfig.VmSettings;

/**
 * Firecracker's machine-config: vCPUs and memory, plus the topology and paging options Firecracker
 * has. Cloister takes each option's default only (it has no SMT topology, dirty-page tracking,
 * huge pages or CPU templates), and says so when asked for another value instead of ignoring it.
 */
record MachineConfig(int vcpuCount, long memSizeMib, boolean smt, boolean trackDirtyPages, String hugePages, String cpuTemplate) {
    /** Firecracker's limit (Cloister itself starts up to {@link VmSettings#MAX_VCPUS}). */
    static final int MAX_VCPUS = 32;
    /** Firecracker's defaults, which GET /machine-config shows before any PUT. */
    static final MachineConfig DEFAULT = new MachineConfig(1, 128, false, false, "None", "None");
    private static final Set<String> FIELDS = Set.of("vcpu_count", "mem_size_mib", "smt", "track_dirty_pages", "huge_pages",
            "cpu_template");

    /**
     * A PUT replaces the whole configuration (unspecified optional fields go back to their
     * defaults; vcpu_count and mem_size_mib are required); a PATCH changes only the fields it
     * names. Either way any bad field refuses the whole update.
     */
    static MachineConfig parse(JsonObject body, MachineConfig current, boolean patch) {
        Json.Fields f = Json.Fields.of(body, "machine-config", FIELDS);
        MachineConfig base = patch ? current : DEFAULT;
        long vcpus = patch ? f.unsigned("vcpu_count", base.vcpuCount) : f.requiredUnsigned("vcpu_count");
        long mib = patch ? f.unsigned("mem_size_mib", base.memSizeMib) : f.requiredUnsigned("mem_size_mib");
        boolean smt = f.bool("smt", base.smt);
        boolean dirty = f.bool("track_dirty_pages", base.trackDirtyPages);
        String huge = f.oneOf("huge_pages", base.hugePages, false, "None", "2M");
        String template = f.string("cpu_template", base.cpuTemplate);
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new Fault("machine-config: vcpu_count " + vcpus + " is outside 1.." + MAX_VCPUS);
        }
        if (mib < 1) {
            throw new Fault("machine-config: mem_size_mib must be at least 1, not " + mib);
        }
        long max = VmSettings.maxMemory() >> 20;
        if (mib > max) {
            throw new Fault("machine-config: mem_size_mib " + mib + " is more than this host's physical memory (" + max + " MiB)");
        }
        if (smt) {
            throw new Fault("machine-config: smt=true is not supported by Cloister (its vCPUs have no SMT topology)");
        }
        if (dirty) {
            throw new Fault("machine-config: track_dirty_pages=true is not supported by Cloister (no snapshots yet)");
        }
        if (!huge.equals("None")) {
            throw new Fault("machine-config: huge_pages=" + huge + " is not supported by Cloister (guest RAM is restricted memory)");
        }
        if (!template.equals("None")) {
            throw new Fault("machine-config: cpu_template '" + template + "' is not supported by Cloister (only None)");
        }
        return new MachineConfig((int) vcpus, mib, smt, dirty, huge, template);
    }

    JsonObject toJson() {
        return Json.builder().add("vcpu_count", vcpuCount).add("mem_size_mib", memSizeMib).add("smt", smt)
                .add("track_dirty_pages", trackDirtyPages).add("huge_pages", hugePages).build();
    }
}
