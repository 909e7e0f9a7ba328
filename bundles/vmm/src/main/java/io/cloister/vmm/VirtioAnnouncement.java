package io.cloister.vmm;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import io.cloister.internal.acpi.AcpiDevice;

/**
 * How a guest learns of its virtio-mmio devices, both ways at once and from the same facts (each
 * device service's base, size and IRQ): on the kernel command line, as Firecracker does
 * ({@code virtio_mmio.device=4K@0x<base>:<irq>}, for kernels built with
 * VIRTIO_MMIO_CMDLINE_DEVICES), and in the DSDT as LNRO0005 devices, as QEMU's microvm does (for
 * kernels without it, such as Debian's). A drive marked root adds {@code root=/dev/vdX ro|rw}, as
 * Firecracker's is_root_device does; vdX is the drive's place among the VM's drives by address,
 * which is the order Linux probes them in. The user's own command line comes last, so that what
 * it says wins; a device it already announces is not announced twice.
 */
final class VirtioAnnouncement {
    private static final String PARAMETER = "virtio_mmio.device=";

    private VirtioAnnouncement() {
    }

    /** The virtio transports among a VM's devices, by address. */
    static List<Platform.Virtio> of(List<Platform.Device> devices, String vm) {
        return devices.stream().filter(d -> d.isFor(vm) && d.virtio() != null).map(Platform.Device::virtio)
                .sorted(Comparator.comparingLong(Platform.Virtio::base)).toList();
    }

    /** The kernel command line: the announcements, the root device, then the user's {@code cmdline}. */
    static String cmdline(List<Platform.Virtio> devices, String cmdline) {
        Set<Long> announced = announcedBases(cmdline);
        List<String> parts = new ArrayList<>();
        for (Platform.Virtio v : devices) {
            if (!announced.contains(v.base())) {
                parts.add(PARAMETER + size(v.size()) + "@0x" + Long.toHexString(v.base()) + ":" + v.irq());
            }
        }
        int drive = 0;
        for (Platform.Virtio v : devices) {
            if (v.type() == Platform.Virtio.BLOCK) {
                if (v.root()) {
                    parts.add("root=/dev/" + diskName(drive) + (v.readOnly() ? " ro" : " rw"));
                    break; // one root: whoever made the drives refused a second one
                }
                drive++;
            }
        }
        if (!cmdline.isBlank()) {
            parts.add(cmdline.strip());
        }
        return String.join(" ", parts);
    }

    /** The DSDT entries: one LNRO0005 device per transport, V000, V001, ... in address order. */
    static List<AcpiDevice> acpi(List<Platform.Virtio> devices) {
        List<AcpiDevice> out = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) {
            Platform.Virtio v = devices.get(i);
            out.add(AcpiDevice.virtioMmio(i, v.base(), v.size(), v.irq()));
        }
        return out;
    }

    /** Linux's name of the n-th virtio disk (virtblk_name_format): vda .. vdz, vdaa, ... */
    static String diskName(int index) {
        StringBuilder b = new StringBuilder();
        for (int i = index; i >= 0; i = i / 26 - 1) {
            b.insert(0, (char) ('a' + i % 26));
        }
        return "vd" + b;
    }

    /** The size as Linux's memparse reads it: 4K rather than 4096. */
    private static String size(long bytes) {
        if (bytes % (1L << 20) == 0) {
            return (bytes >> 20) + "M";
        }
        return bytes % 1024 == 0 ? (bytes >> 10) + "K" : Long.toString(bytes);
    }

    /** The bases of the devices {@code cmdline} announces itself (size@base:irq[:id]). */
    private static Set<Long> announcedBases(String cmdline) {
        Set<Long> bases = new HashSet<>();
        for (String token : cmdline.split("\\s+")) {
            if (!token.startsWith(PARAMETER)) {
                continue;
            }
            String v = token.substring(PARAMETER.length());
            int at = v.indexOf('@');
            int colon = v.indexOf(':', at + 1);
            if (at < 0 || colon < 0) {
                continue; // not a device the kernel would take either
            }
            try {
                bases.add(Long.decode(v.substring(at + 1, colon)));
            } catch (NumberFormatException e) {
                // likewise
            }
        }
        return bases;
    }
}
