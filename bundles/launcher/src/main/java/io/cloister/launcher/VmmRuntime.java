package io.cloister.launcher;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Method;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Dictionary;
import java.util.HashMap;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.launch.FrameworkFactory;
import org.osgi.util.tracker.ServiceTracker;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An embedded Felix framework running one deployment. Bundles are installed, then started in
 * start order; the feature's configurations are then handed to ConfigAdmin.
 */
public final class VmmRuntime implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VmmRuntime.class);
    static final String CONFIG_ADMIN = "org.osgi.service.cm.ConfigurationAdmin";
    /**
     * Framework property: the locations of the feature's own bundles, one a line. The shell's
     * vmm:uninstall refuses these (uninstalling SCR or a backend would take the VMM down under its
     * guests); bundles added later (--device, vmm:install) are not in it.
     */
    public static final String FEATURE_BUNDLES = "cloister.feature.bundles";

    private final Framework framework;
    private final Path storage;
    private final List<Bundle> bundles;

    /**
     * Closes the runtime when the JVM ends without close having run: a signal (SIGTERM from a
     * supervisor or timeout(1), Ctrl-C) or Gogo's 'exit' ends it without the caller's own close, and
     * then the VMs and their devices were not stopped and the framework's storage (4.4 MB) stayed
     * in the temporary directory, one for each killed 'vmm run'. close() takes it away again.
     */
    private final Thread closeAtExit = new Thread(this::close, "vmm-shutdown");

    private VmmRuntime(Framework framework, Path storage, List<Bundle> bundles) {
        this.framework = framework;
        this.storage = storage;
        this.bundles = bundles;
        Runtime.getRuntime().addShutdownHook(closeAtExit);
    }

    /**
     * Starts a framework with {@code deployment}; {@code properties} override the feature's
     * framework properties. On failure everything started is stopped again.
     */
    public static VmmRuntime start(Deployment deployment, Map<String, String> properties) throws LaunchException {
        return start(deployment, properties, java.util.Set.of());
    }

    /** As above; bundles whose symbolic name is in {@code leaveStopped} are installed but not started. */
    public static VmmRuntime start(Deployment deployment, Map<String, String> properties, java.util.Set<String> leaveStopped)
            throws LaunchException {
        Path storage;
        try {
            storage = Files.createTempDirectory("cloister-osgi-");
        } catch (IOException e) {
            throw new LaunchException(LaunchException.RUNTIME, "cannot create framework storage: " + e.getMessage(), e);
        }
        Map<String, String> config = new HashMap<>();
        config.put(Constants.FRAMEWORK_STORAGE, storage.toString());
        config.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
        // SLF4J lives on the launcher's class path, so bundles log through the same provider as the launcher.
        config.put(Constants.FRAMEWORK_SYSTEMPACKAGES_EXTRA, slf4jExports());
        config.put("felix.log.level", "1");
        config.putAll(deployment.frameworkProperties());
        config.putAll(properties);
        config.put(FEATURE_BUNDLES, String.join("\n", deployment.bundles().stream().filter(b -> !b.device())
                .map(b -> location(b.jar())).toList()));

        FrameworkFactory factory = ServiceLoader.load(FrameworkFactory.class, VmmRuntime.class.getClassLoader())
                .findFirst().orElseThrow(() -> new LaunchException(LaunchException.RUNTIME, "no OSGi framework on the class path"));
        Framework framework = factory.newFramework(config);
        List<Bundle> installed = new ArrayList<>();
        VmmRuntime runtime = new VmmRuntime(framework, storage, installed);
        try {
            framework.init();
            BundleContext ctx = framework.getBundleContext();
            TrustHooks trust = TrustHooks.register(ctx);
            for (Deployment.BundleJar b : deployment.bundles()) {
                try (InputStream in = Files.newInputStream(b.jar())) {
                    Bundle bundle = ctx.installBundle(location(b.jar()), in);
                    trust.trust(bundle);
                    installed.add(bundle);
                } catch (BundleException | IOException e) {
                    throw new LaunchException(LaunchException.CONFIG, "bundle " + b.coordinates() + " (" + b.jar()
                            + ") cannot be installed: " + FeatureFile.oneLine(e), e);
                }
            }
            framework.start();
            boolean configured = deployment.configurations().isEmpty();
            for (int i = 0; i < installed.size(); i++) {
                Bundle bundle = installed.get(i);
                if (bundle.getHeaders().get(Constants.FRAGMENT_HOST) != null || leaveStopped.contains(bundle.getSymbolicName())) {
                    continue;
                }
                try {
                    bundle.start();
                } catch (BundleException e) {
                    throw new LaunchException(LaunchException.CONFIG, "bundle " + deployment.bundles().get(i).coordinates()
                            + " (" + bundle.getSymbolicName() + ") cannot be started: " + FeatureFile.oneLine(e), e);
                }
                // Configurations go in as soon as ConfigAdmin runs, so components of the bundles
                // started after it find theirs when they start (and the shell sees the VMs).
                if (!configured && ctx.getServiceReference(CONFIG_ADMIN) != null) {
                    runtime.applyConfigurations(deployment);
                    configured = true;
                }
            }
            if (!configured) {
                runtime.applyConfigurations(deployment);
            }
            LOG.debug("started {} bundles of {}", installed.size(), deployment.featureId());
            return runtime;
        } catch (LaunchException e) {
            runtime.close();
            throw e;
        } catch (BundleException | RuntimeException e) {
            runtime.close();
            throw new LaunchException(LaunchException.RUNTIME, "framework failed to start: " + FeatureFile.oneLine(e), e);
        }
    }

    private static String location(Path jar) {
        return jar.toUri().toString();
    }

    /** Export-Package of the slf4j-api jar on our class path, offered by the system bundle. */
    private static String slf4jExports() throws LaunchException {
        try {
            Path jar = Path.of(Logger.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            try (JarFile jf = new JarFile(jar.toFile())) {
                String exports = jf.getManifest().getMainAttributes().getValue(Constants.EXPORT_PACKAGE);
                if (exports == null) {
                    throw new IOException("no Export-Package in " + jar);
                }
                return exports;
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            throw new LaunchException(LaunchException.RUNTIME, "cannot read the slf4j-api exports: " + e.getMessage(), e);
        }
    }

    /**
     * ConfigurationAdmin lives in a bundle's class space, not ours, so it is called through the
     * interface that bundle exports. Configurations use location "?" so any bundle may bind them.
     */
    private void applyConfigurations(Deployment deployment) throws LaunchException {
        if (deployment.configurations().isEmpty()) {
            return;
        }
        Object admin = awaitService("(objectClass=" + CONFIG_ADMIN + ")", 5_000);
        if (admin == null) {
            throw new LaunchException(LaunchException.CONFIG, "feature " + deployment.featureId()
                    + " has configurations but no ConfigurationAdmin service started (add org.apache.felix.configadmin)");
        }
        for (Deployment.Configuration c : deployment.configurations()) {
            try {
                Class<?> type = findInterface(admin.getClass(), CONFIG_ADMIN);
                Object configuration = c.factoryPid() == null
                        ? type.getMethod("getConfiguration", String.class, String.class).invoke(admin, c.pid(), "?")
                        : type.getMethod("getFactoryConfiguration", String.class, String.class, String.class)
                                .invoke(admin, c.factoryPid(), c.name(), "?");
                Method update = findInterface(configuration.getClass(), "org.osgi.service.cm.Configuration")
                        .getMethod("update", Dictionary.class);
                update.invoke(configuration, new Hashtable<>(c.values()));
            } catch (ReflectiveOperationException | RuntimeException e) {
                throw new LaunchException(LaunchException.CONFIG, "configuration " + c.pid() + " of "
                        + deployment.source() + " was refused: " + FeatureFile.oneLine(e), e);
            }
        }
    }

    private static Class<?> findInterface(Class<?> impl, String name) {
        for (Class<?> c = impl; c != null; c = c.getSuperclass()) {
            for (Class<?> i : c.getInterfaces()) {
                if (i.getName().equals(name)) {
                    return i;
                }
            }
        }
        throw new IllegalStateException(impl.getName() + " does not implement " + name);
    }

    public BundleContext context() {
        return framework.getBundleContext();
    }

    public Framework framework() {
        return framework;
    }

    /** The bundles of the deployment, in start order. */
    public List<Bundle> bundles() {
        return List.copyOf(bundles);
    }

    /** Waits up to {@code millis} for a service matching {@code filter} and gets it; null if none came. */
    public Object awaitService(String filter, long millis) throws LaunchException {
        try {
            ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context(), context().createFilter(filter), null);
            tracker.open(true);
            try {
                if (tracker.waitForService(millis) == null) {
                    return null;
                }
                // Held by the system bundle until the framework stops: releasing it would let DS
                // deactivate a delayed component (or ConfigAdmin drop its instance) under the caller.
                ServiceReference<Object> ref = tracker.getServiceReference();
                return ref == null ? null : context().getService(ref);
            } finally {
                tracker.close();
            }
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LaunchException(LaunchException.RUNTIME, "interrupted while waiting for " + filter);
        }
    }

    /** Service references matching {@code filter}, any class space. */
    public List<ServiceReference<?>> services(String filter) {
        try {
            ServiceReference<?>[] refs = context().getAllServiceReferences(null, filter);
            return refs == null ? List.of() : List.of(refs);
        } catch (InvalidSyntaxException e) {
            throw new IllegalArgumentException(e);
        }
    }

    /** Blocks until the framework stops (e.g. 'exit' in the shell). */
    private final java.util.concurrent.atomic.AtomicBoolean closed = new java.util.concurrent.atomic.AtomicBoolean();

    public void awaitStop() throws InterruptedException {
        framework.waitForStop(0);
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return; // closed already (e.g. by the shell's exit and then the shutdown hook)
        }
        try {
            Runtime.getRuntime().removeShutdownHook(closeAtExit);
        } catch (IllegalStateException exiting) {
            // the JVM is ending: this is the hook, or it runs beside it; the flag above lets one through
        }
        try {
            if ((framework.getState() & (Bundle.STARTING | Bundle.ACTIVE | Bundle.STOPPING)) != 0) {
                framework.stop();
            }
            FrameworkEvent event = framework.waitForStop(TimeUnit.SECONDS.toMillis(30));
            if (event.getType() == FrameworkEvent.WAIT_TIMEDOUT) {
                LOG.warn("framework did not stop within 30 s");
            }
        } catch (BundleException | InterruptedException e) {
            LOG.warn("framework stop failed: {}", e.toString());
        } finally {
            deleteTree(storage);
        }
    }

    private static void deleteTree(Path root) {
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | java.io.UncheckedIOException e) {
            LOG.debug("cannot delete {}: {}", root, e.toString());
        }
    }
}
