package io.cloister.launcher;

import java.util.Collection;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceEvent;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.hooks.resolver.ResolverHook;
import org.osgi.framework.hooks.resolver.ResolverHookFactory;
import org.osgi.framework.hooks.service.EventListenerHook;
import org.osgi.framework.hooks.service.FindHook;
import org.osgi.framework.hooks.service.ListenerHook;
import org.osgi.framework.namespace.BundleNamespace;
import org.osgi.framework.namespace.HostNamespace;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;

/**
 * Capabilities follow trust, enforced by the framework (Java 24+ has no security manager). The
 * core circle is the system bundle and the bundles of the deployment's feature; every bundle
 * installed later (a device bundle from {@code vmm:install}, anything a bundle installs) is
 * outside it and gets only the outer API packages ({@link #OUTER}: errors, VM management,
 * devices):
 * <ul>
 * <li>resolver hook: an outside bundle cannot wire to an inner API package (memory, restricted
 * memory, backends, CPU engines, buses), cannot Require-Bundle a core bundle (that would give it
 * every export) and cannot attach as a fragment to one (that would put its classes inside);</li>
 * <li>service hooks: an outside bundle does not see the core's services of inner types, and the
 * core does not see services of inner types an outside bundle registers (a fake backend policy
 * or CPU engine would be handed the guest's memory).</li>
 * </ul>
 * Together with the API's shape (no outer type leads to an inner one) this is the structural
 * guarantee; what remains outside it (deep reflection, FFM) is in docs/threat-model.md.
 */
final class TrustHooks implements ResolverHookFactory, FindHook, EventListenerHook {
    static final String API = "io.cloister.api";
    /** The packages every bundle may import. */
    static final Set<String> OUTER = Set.of(API, API + ".vm", API + ".device");

    private final Set<Long> core = ConcurrentHashMap.newKeySet();

    TrustHooks() {
        core.add(0L); // the system bundle
    }

    /** Registers the hooks; call after init, before any bundle is installed. */
    static TrustHooks register(BundleContext system) {
        TrustHooks hooks = new TrustHooks();
        system.registerService(ResolverHookFactory.class, hooks, null);
        system.registerService(new String[] {FindHook.class.getName(), EventListenerHook.class.getName()}, hooks, null);
        return hooks;
    }

    /** A bundle of the deployment: part of the core circle. */
    void trust(Bundle bundle) {
        core.add(bundle.getBundleId());
    }

    boolean trusted(Bundle bundle) {
        return bundle != null && core.contains(bundle.getBundleId());
    }

    /** An API package outside the outer circle. */
    static boolean inner(String pkg) {
        return pkg != null && (pkg.equals(API) || pkg.startsWith(API + ".")) && !OUTER.contains(pkg);
    }

    /** Whether a service has an inner-circle type among its interfaces. */
    static boolean innerService(ServiceReference<?> ref) {
        if (ref.getProperty(Constants.OBJECTCLASS) instanceof String[] classes) {
            for (String c : classes) {
                int dot = c.lastIndexOf('.');
                if (dot > 0 && inner(c.substring(0, dot))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether {@code viewer} may see the service: inner services only between core bundles. */
    boolean visible(Bundle viewer, ServiceReference<?> ref) {
        Bundle provider = ref.getBundle();
        // null once unregistered: nothing to reach any more, and holders must hear it is gone
        return provider == null || !innerService(ref) || (trusted(viewer) && trusted(provider)) || provider == viewer;
    }

    @Override
    public ResolverHook begin(Collection<BundleRevision> triggers) {
        return new ResolverHook() {
            @Override
            public void filterResolvable(Collection<BundleRevision> candidates) {
            }

            @Override
            public void filterSingletonCollisions(BundleCapability singleton, Collection<BundleCapability> collisionCandidates) {
            }

            @Override
            public void filterMatches(BundleRequirement requirement, Collection<BundleCapability> candidates) {
                Bundle requirer = requirement.getRevision().getBundle();
                if (trusted(requirer)) {
                    return;
                }
                for (Iterator<BundleCapability> it = candidates.iterator(); it.hasNext(); ) {
                    if (refused(it.next())) {
                        it.remove();
                    }
                }
            }

            @Override
            public void end() {
            }
        };
    }

    /** What an outside bundle may not wire to. */
    private boolean refused(BundleCapability c) {
        Bundle provider = c.getRevision().getBundle();
        return switch (c.getNamespace()) {
            case PackageNamespace.PACKAGE_NAMESPACE -> inner((String) c.getAttributes().get(PackageNamespace.PACKAGE_NAMESPACE));
            case BundleNamespace.BUNDLE_NAMESPACE, HostNamespace.HOST_NAMESPACE -> trusted(provider) && provider.getBundleId() != 0;
            default -> false;
        };
    }

    @Override
    public void find(BundleContext context, String name, String filter, boolean allServices, Collection<ServiceReference<?>> references) {
        Bundle viewer = context.getBundle();
        references.removeIf(ref -> !visible(viewer, ref));
    }

    @Override
    public void event(ServiceEvent event, Map<BundleContext, Collection<ListenerHook.ListenerInfo>> listeners) {
        ServiceReference<?> ref = event.getServiceReference();
        if (innerService(ref)) {
            listeners.keySet().removeIf(context -> !visible(context.getBundle(), ref));
        }
    }
}
