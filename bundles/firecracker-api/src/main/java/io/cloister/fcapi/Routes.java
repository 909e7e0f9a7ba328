package io.cloister.fcapi;

import jakarta.json.JsonObject;

/**
 * Firecracker's paths and methods, and Cloister's under /cloister/, mapped onto an
 * {@link Instance}. Independent of HTTP: the server hands in method, path and body and writes the
 * {@link Reply}. An unknown path or a method a path does not take is a 400 naming both, as
 * Firecracker answers ("Invalid request method and/or path").
 */
final class Routes {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Routes.class);
    /** The largest request body read; Firecracker's own limit is 50 KiB (its HTTP buffer). */
    static final int MAX_BODY = 51_200;

    private final Instance instance;

    Routes(Instance instance) {
        this.instance = instance;
    }

    Instance instance() {
        return instance;
    }

    /** Answers one request; every refusal is a {@link Fault} turned into its status and fault message. */
    Reply handle(String method, String path, String body) {
        return handle(method, path, body, null);
    }

    private Reply handle(String method, String path, String body, Fault refused) {
        instance.metrics.requests.incrementAndGet();
        try {
            if (refused != null) {
                throw refused;
            }
            Reply r = route(method, path, body);
            instance.log.log(ApiLog.Level.DEBUG, method + " " + path + " -> " + r.status());
            return r;
        } catch (Fault f) {
            instance.metrics.errors.incrementAndGet();
            instance.log.log(ApiLog.Level.WARNING, method + " " + path + " -> " + f.status() + ": " + f.getMessage());
            return new Reply(f.status(), Json.builder().add("fault_message", f.getMessage()).build());
        } catch (io.cloister.api.CloisterException e) {
            // A refusal the VMM gave that no resource turned into its own message: still the client's 400.
            instance.metrics.errors.incrementAndGet();
            instance.log.log(ApiLog.Level.WARNING, method + " " + path + " -> 400: " + e.getMessage());
            return new Reply(400, Json.builder().add("fault_message", Json.oneLine(e.getMessage())).build());
        } catch (RuntimeException e) {
            // A bug here or in the VMM: Firecracker's body with 500, the client's connection kept.
            instance.metrics.errors.incrementAndGet();
            LOG.error("{} {}: {}", method, path, e.toString(), e);
            instance.log.log(ApiLog.Level.ERROR, method + " " + path + " -> 500: " + e);
            return new Reply(500, Json.builder().add("fault_message", "internal error: " + Json.oneLine(e.toString())).build());
        }
    }

    /** A body over {@link #MAX_BODY}: refused without reading the rest. */
    Reply tooLarge(long length) {
        return handle("BODY", "(too large)", null, new Fault("the request body is " + (length < 0 ? "more than " + MAX_BODY : length)
                + " bytes; at most " + MAX_BODY + " are read"));
    }

    private Reply route(String method, String path, String body) {
        String p = path.length() > 1 && path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
        if (p.startsWith("/drives/") && p.length() > "/drives/".length() && p.indexOf('/', 8) < 0) {
            String id = p.substring("/drives/".length());
            switch (method) {
                case "PUT" -> {
                    instance.putDrive(id, Json.object(body));
                    return Reply.NO_CONTENT;
                }
                case "PATCH" -> {
                    instance.patchDrive(id, Json.object(body));
                    return Reply.NO_CONTENT;
                }
                default -> throw invalid(method, path);
            }
        }
        if (p.startsWith("/cloister/devices/") && p.indexOf('/', "/cloister/devices/".length()) < 0) {
            String id = p.substring("/cloister/devices/".length());
            switch (method) {
                case "PUT" -> {
                    instance.putDevice(id, Json.object(body));
                    return Reply.NO_CONTENT;
                }
                case "DELETE" -> {
                    instance.deleteDevice(id);
                    return Reply.NO_CONTENT;
                }
                default -> throw invalid(method, path);
            }
        }
        return switch (method + " " + p) {
            case "GET /" -> Reply.ok(instance.info());
            case "GET /version" -> Reply.ok(instance.version());
            case "GET /machine-config" -> Reply.ok(instance.machineConfig());
            case "PUT /machine-config" -> write(() -> instance.putMachineConfig(Json.object(body), false));
            case "PATCH /machine-config" -> write(() -> instance.putMachineConfig(Json.object(body), true));
            case "PUT /boot-source" -> write(() -> instance.putBootSource(Json.object(body)));
            case "PUT /actions" -> write(() -> instance.action(Json.object(body)));
            case "PATCH /vm" -> write(() -> instance.patchVm(Json.object(body)));
            case "GET /vm/config" -> Reply.ok(instance.vmConfig());
            case "PUT /logger" -> write(() -> instance.putLogger(Json.object(body)));
            case "PUT /metrics" -> write(() -> instance.putMetrics(Json.object(body)));
            case "PUT /serial" -> write(() -> instance.putSerial(Json.object(body)));
            case "PUT /entropy" -> write(() -> instance.putEntropy(Json.object(body)));
            case "GET /cloister/backend" -> Reply.ok(instance.backend());
            case "PUT /cloister/backend" -> write(() -> instance.putBackend(Json.object(body)));
            case "GET /cloister/vms" -> Reply.ok(instance.vms());
            case "GET /cloister/devices" -> Reply.ok(instance.devices());
            case "GET /cloister/memory" -> Reply.ok(instance.memory());
            case "GET /cloister/vcpus" -> Reply.ok(instance.vcpus());
            default -> throw invalid(method, path);
        };
    }

    private static Reply write(Runnable action) {
        action.run();
        return Reply.NO_CONTENT;
    }

    static Fault invalid(String method, String path) {
        return new Fault("Invalid request method and/or path: " + method + " " + path);
    }
}
