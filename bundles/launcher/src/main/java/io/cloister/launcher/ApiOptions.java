package io.cloister.launcher;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Firecracker's command line on 'vmm run': {@code --api-sock PATH} serves its management API on a
 * Unix socket and {@code --config-file FILE} boots the VM a Firecracker config file describes.
 * With either, the runtime starts with none of the feature's VMs and the firecracker-api bundle's
 * 'api' entry runs instead of 'run'. Checked here before the framework starts:
 * <ul>
 * <li>the socket's directory exists; the path is not a file of another kind; a socket file on
 * which a process answers is refused (another VMM serves it), one nobody answers on is stale
 * (left by a killed process) and is replaced, so a restarted VMM needs no manual rm;</li>
 * <li>the config file is a readable regular file (its content is checked by the bundle, before
 * any VM exists, with the same one-line errors);</li>
 * <li>VM options other than --backend and --engine are refused: machine-config and boot-source
 * say what they would (--backend and --engine, which Firecracker has not, become the defaults).</li>
 * </ul>
 */
final class ApiOptions {
    static final String API_SOCK = "api-sock";
    static final String CONFIG_FILE = "config-file";
    static final List<String> NAMES = List.of(API_SOCK, CONFIG_FILE);
    /** The VM options that stay meaningful with the API: defaults for the VM InstanceStart creates. */
    static final List<String> KEPT_VM_OPTIONS = List.of("backend", "engine");

    private ApiOptions() {
    }

    static boolean requested(Map<String, String> options) {
        return options.containsKey(API_SOCK) || options.containsKey(CONFIG_FILE);
    }

    /** Checks the API options and removes them (and --backend, --engine) from {@code options}; returns them. */
    static Map<String, String> take(Map<String, String> options) throws LaunchException {
        for (String vmOption : Main.VM_OPTIONS) {
            if (options.containsKey(vmOption) && !KEPT_VM_OPTIONS.contains(vmOption)) {
                throw new LaunchException(LaunchException.CONFIG, "option --" + vmOption + " does not go with --api-sock or"
                        + " --config-file (set it through machine-config, boot-source or serial)");
            }
        }
        Map<String, String> taken = new LinkedHashMap<>();
        if (options.containsKey(API_SOCK)) {
            checkSocket(Path.of(options.get(API_SOCK)));
        }
        if (options.containsKey(CONFIG_FILE)) {
            Path file = Path.of(options.get(CONFIG_FILE));
            if (!Files.isRegularFile(file) || !Files.isReadable(file)) {
                throw new LaunchException(LaunchException.CONFIG, "--config-file " + file + " is not a readable file");
            }
        }
        for (String key : List.of(API_SOCK, CONFIG_FILE, "backend", "engine")) {
            String v = options.remove(key);
            if (v != null) {
                taken.put(key, key.equals(API_SOCK) || key.equals(CONFIG_FILE) ? Path.of(v).toAbsolutePath().toString() : v);
            }
        }
        return taken;
    }

    static void checkSocket(Path socket) throws LaunchException {
        Path dir = socket.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new LaunchException(LaunchException.CONFIG, "--api-sock " + socket + ": directory " + dir + " does not exist");
        }
        if (socket.toAbsolutePath().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            throw new LaunchException(LaunchException.CONFIG, "--api-sock " + socket + " is longer than a Unix socket path may be"
                    + " (107 bytes)");
        }
        if (!Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        if (!isSocket(socket)) {
            throw new LaunchException(LaunchException.CONFIG, "--api-sock " + socket + " exists and is not a socket");
        }
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            throw new LaunchException(LaunchException.CONFIG, "--api-sock " + socket + " is in use by a running process");
        } catch (IOException stale) {
            // nobody answers: the API bundle replaces it
        }
    }

    private static boolean isSocket(Path p) throws LaunchException {
        try {
            return ((Integer) Files.getAttribute(p, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 0170000) == 0140000;
        } catch (IOException | UnsupportedOperationException e) {
            throw new LaunchException(LaunchException.CONFIG, "--api-sock " + p + ": " + e.getMessage());
        }
    }

    /** The feature without its VM configurations: with the API, VMs come from InstanceStart only. */
    static Deployment withoutVms(Deployment d) {
        return new Deployment(d.featureId(), d.source(), d.bundles(), d.configurations().stream()
                .filter(c -> !Main.VM_FACTORY_PID.equals(c.factoryPid()) && !Main.VM_FACTORY_PID.equals(c.pid())).toList(),
                d.frameworkProperties());
    }
}
