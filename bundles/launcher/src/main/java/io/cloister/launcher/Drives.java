package io.cloister.launcher;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * {@code vmm run --drive PATH[,ro][,root][,id=ID][,cache=unsafe|writeback]} (repeatable) and
 * {@code --entropy}: virtio devices for the run's VM, as factory configurations of the virtio
 * bundle naming that VM (the same configurations Firecracker's PUT /drives/{id} and PUT /entropy
 * make through the API). Every drive is checked here, before the framework starts: the image is
 * opened as the device will open it (read-only or read-write). Drives take the free virtio-mmio
 * slots in the order given, then the entropy device; where a slot is (its window and interrupt
 * line) is the virtio bundle's business.
 */
final class Drives {
    static final String BLOCK_PID = "io.cloister.virtio.blk";
    static final String ENTROPY_PID = "io.cloister.virtio.rng";
    static final int SLOTS = 8;
    /** GET_ID answers at most 20 bytes; the id also names the configuration. */
    static final int MAX_ID = 20;

    /** One --drive, parsed and checked. */
    record Drive(Path path, boolean readOnly, boolean root, String id, String cache) {
    }

    private Drives() {
    }

    /** Parses and checks one --drive value; {@code index} gives the default id (drive0, drive1, ...). */
    static Drive parse(String spec, int index) throws LaunchException {
        String[] parts = spec.split(",", -1);
        if (parts[0].isEmpty()) {
            throw bad(spec, "no image path (--drive PATH[,ro][,root][,id=ID][,cache=unsafe|writeback])");
        }
        boolean ro = false;
        boolean root = false;
        String id = "drive" + index;
        String cache = "Unsafe";
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i];
            if (p.equals("ro")) {
                ro = true;
            } else if (p.equals("root")) {
                root = true;
            } else if (p.startsWith("id=")) {
                id = p.substring(3);
                if (!id.matches("[A-Za-z0-9_-]{1," + MAX_ID + "}")) {
                    throw bad(spec, "id '" + id + "' must be 1 to " + MAX_ID + " letters, digits, '_' or '-'");
                }
            } else if (p.startsWith("cache=")) {
                cache = switch (p.substring(6).toLowerCase(Locale.ROOT)) {
                    case "unsafe" -> "Unsafe";
                    case "writeback" -> "Writeback";
                    default -> throw bad(spec, "cache '" + p.substring(6) + "' is neither unsafe nor writeback");
                };
            } else {
                throw bad(spec, "unknown flag '" + p + "' (ro, root, id=ID, cache=unsafe|writeback)");
            }
        }
        Path path = Path.of(parts[0]).toAbsolutePath().normalize();
        check(spec, path, ro);
        return new Drive(path, ro, root, id, cache);
    }

    /** The image must be a regular file the device can open: for reading, and for writing unless ro. */
    private static void check(String spec, Path path, boolean ro) throws LaunchException {
        if (Files.isDirectory(path)) {
            throw bad(spec, path + " is a directory, not an image file");
        }
        if (Files.exists(path) && !Files.isRegularFile(path)) {
            throw bad(spec, path + " is not a regular file");
        }
        try (FileChannel ch = ro ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            if (ch.size() < 512) {
                throw bad(spec, path + " holds " + ch.size() + " bytes, less than one 512-byte sector");
            }
        } catch (NoSuchFileException e) {
            throw bad(spec, path + ": no such file");
        } catch (AccessDeniedException e) {
            throw bad(spec, path + " cannot be opened " + (ro ? "for reading" : "for reading and writing (add ,ro for a read-only"
                    + " drive)") + ": permission denied");
        } catch (IOException e) {
            throw bad(spec, path + " cannot be opened: " + e.getMessage());
        }
    }

    private static LaunchException bad(String spec, String why) {
        return new LaunchException(LaunchException.CONFIG, "--drive " + spec + ": " + why);
    }

    /**
     * Adds the drives and (with {@code entropy}) an entropy device to the deployment's first VM,
     * in the virtio-mmio slots its configurations leave free.
     */
    static Deployment with(Deployment d, List<Drive> drives, boolean entropy) throws LaunchException {
        if (drives.isEmpty() && !entropy) {
            return d;
        }
        String vm = d.configurations().stream().filter(c -> Main.VM_FACTORY_PID.equals(c.factoryPid()))
                .map(c -> String.valueOf(c.values().get("name"))).findFirst()
                .orElseThrow(() -> new LaunchException(LaunchException.CONFIG, (drives.isEmpty() ? "--entropy" : "--drive")
                        + ": the feature " + d.featureId() + " configures no VM to give it to (add --kernel)"));
        Set<String> ids = new HashSet<>();
        long roots = drives.stream().filter(Drive::root).count();
        if (roots > 1) {
            throw new LaunchException(LaunchException.CONFIG, "--drive: " + roots + " drives are marked root; one at most");
        }
        Set<Integer> used = usedSlots(d, vm);
        List<Deployment.Configuration> configs = new ArrayList<>(d.configurations());
        for (Drive drive : drives) {
            if (!ids.add(drive.id())) {
                throw new LaunchException(LaunchException.CONFIG, "--drive: two drives have the id " + drive.id());
            }
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("vm", vm);
            values.put("path", drive.path().toString());
            values.put("readOnly", drive.readOnly());
            values.put("root", drive.root());
            values.put("cache", drive.cache());
            values.put("id", drive.id());
            values.put("slot", take(used, "--drive " + drive.path()));
            add(configs, BLOCK_PID, vm + "-" + drive.id(), values);
        }
        if (entropy) {
            Map<String, Object> values = new LinkedHashMap<>();
            values.put("vm", vm);
            values.put("slot", take(used, "--entropy"));
            add(configs, ENTROPY_PID, vm + "-entropy", values);
        }
        return new Deployment(d.featureId(), d.source(), d.bundles(), List.copyOf(configs), d.frameworkProperties());
    }

    private static void add(List<Deployment.Configuration> configs, String factoryPid, String name, Map<String, Object> values)
            throws LaunchException {
        String pid = factoryPid + "~" + name;
        if (configs.stream().anyMatch(c -> c.pid().equals(pid))) {
            throw new LaunchException(LaunchException.CONFIG, "the feature configures " + pid + " already");
        }
        configs.add(new Deployment.Configuration(pid, factoryPid, name, values));
    }

    /** The slots the feature's own virtio configurations give this VM (a drive's default is 0, an entropy device's 7). */
    private static Set<Integer> usedSlots(Deployment d, String vm) {
        Set<Integer> used = new HashSet<>();
        for (Deployment.Configuration c : d.configurations()) {
            boolean block = BLOCK_PID.equals(c.factoryPid());
            if ((block || ENTROPY_PID.equals(c.factoryPid())) && vm.equals(c.values().get("vm"))) {
                used.add(c.values().get("slot") instanceof Number n ? n.intValue() : block ? 0 : 7);
            }
        }
        return used;
    }

    private static int take(Set<Integer> used, String what) throws LaunchException {
        for (int slot = 0; slot < SLOTS; slot++) {
            if (used.add(slot)) {
                return slot;
            }
        }
        throw new LaunchException(LaunchException.CONFIG, what + ": a VM has " + SLOTS + " virtio-mmio slots and all are taken");
    }
}
