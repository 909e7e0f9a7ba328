package io.cloister.fcapi;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;

import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;

/**
 * PUT/DELETE /cloister/devices/{id}: device bundles installed into the running VMM from a path and
 * uninstalled again; the VMM adds their devices to its VMs, and removes them, at a safe point.
 * Such a bundle is outside the feature, so the launcher's trust hooks give it the outer API
 * packages only. Only bundles installed here can be removed here: the VMM's own are not reachable.
 */
final class DeviceBundles {
    private final BundleContext context;
    /** API id → bundle. */
    private final Map<String, Bundle> installed = new ConcurrentHashMap<>();

    DeviceBundles(BundleContext context) {
        this.context = context;
    }

    static String checkId(String id) {
        if (!id.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,63}")) {
            throw new Fault("devices: '" + id + "' is not a device id (1 to 64 letters, digits, '.', '_' or '-')");
        }
        return id;
    }

    /** The body of PUT /cloister/devices/{id}: {"path_on_host": "/path/to/bundle.jar"}. */
    static String path(JsonObject body) {
        return Json.Fields.of(body, "devices", java.util.Set.of("path_on_host")).requiredString("path_on_host");
    }

    synchronized void install(String id, String path) {
        checkId(id);
        if (installed.containsKey(id)) {
            throw new Fault("devices: '" + id + "' is installed already (DELETE it first)");
        }
        Path jar = Path.of(path).toAbsolutePath().normalize();
        if (!Files.isRegularFile(jar) || !Files.isReadable(jar)) {
            throw new Fault("devices: path_on_host '" + path + "' is not a readable regular file");
        }
        Bundle b;
        try {
            b = context.installBundle(jar.toUri().toString());
        } catch (BundleException | RuntimeException e) {
            throw new Fault("devices: '" + id + "' cannot be installed: " + Json.oneLine(e.getMessage()));
        }
        try {
            b.start();
        } catch (BundleException | RuntimeException e) {
            try {
                b.uninstall();
            } catch (BundleException | RuntimeException ignored) {
                // refused already; nothing more to undo
            }
            throw new Fault("devices: '" + id + "' (" + b.getSymbolicName() + ") cannot be started: " + Json.oneLine(e.getMessage()));
        }
        installed.put(id, b);
    }

    synchronized void uninstall(String id) {
        checkId(id);
        Bundle b = installed.remove(id);
        if (b == null) {
            throw new Fault("devices: no device bundle '" + id + "' was installed through the API");
        }
        try {
            b.uninstall();
        } catch (BundleException | IllegalStateException e) {
            // uninstalled from elsewhere (the shell): gone either way
        }
    }

    JsonArrayBuilder list() {
        JsonArrayBuilder a = Json.PROVIDER.createArrayBuilder();
        installed.forEach((id, b) -> a.add(Json.builder().add("id", id).add("bundle", b.getSymbolicName() + " " + b.getVersion())
                .add("active", b.getState() == Bundle.ACTIVE)));
        return a;
    }

}
