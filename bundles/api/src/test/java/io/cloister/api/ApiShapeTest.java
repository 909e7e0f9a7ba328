package io.cloister.api;

import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The API's contracts as structure, read from the compiled classes of this module: no package
 * cycles; every public interface says who implements it (which decides what bnd's baselining
 * calls a major change); every package is exported with a version bnd baselines; and the packages
 * that device bundles and management clients use lead to no memory control (issue 12, item 3:
 * without a security manager that guarantee must be structural). Each check prints its violations.
 */
class ApiShapeTest {
    /**
     * The outer circle: what third-party device bundles and management clients use. Every other
     * io.cloister.api package (memory, restricted, backend, cpu, ...) is the inner circle, for the
     * VMM, the engines and the backend policies only.
     */
    static final Set<String> OUTER = Set.of(ApiShape.API, ApiShape.API + "/vm", ApiShape.API + "/device");

    private static ApiShape api;

    @BeforeAll
    static void readClasses() throws URISyntaxException {
        // The main classes' directory (target/classes), found through the root package's package-info.
        URL info = ApiShapeTest.class.getClassLoader().getResource(ApiShape.API + "/package-info.class");
        assertNotNull(info, "no " + ApiShape.API + "/package-info.class on the class path");
        Path classes = Path.of(info.toURI()).getParent().getParent().getParent().getParent();
        assertTrue(Files.isDirectory(classes.resolve(ApiShape.API)), "no API classes under " + classes);
        api = ApiShape.read(classes);
        assertTrue(api.packages().containsAll(OUTER), "outer-circle packages missing from " + api.packages());
    }

    @Test
    void noPackageCycles() {
        check("package cycles", api.packageCycles());
    }

    @Test
    void everyPublicInterfaceIsProviderOrConsumerType() {
        check("interfaces without @ProviderType/@ConsumerType", api.unmarkedInterfaces());
    }

    @Test
    void everyPackageIsExportedWithAVersion() {
        check("packages without @Export and @Version >= 1.0", api.unversionedPackages());
    }

    @Test
    void outerCircleReachesNoInnerCircleType() {
        check("outer-circle references to inner-circle types", api.outerLeaks(OUTER));
    }

    static void check(String what, List<String> violations) {
        violations.forEach(v -> System.out.println(what + ": " + v));
        assertTrue(violations.isEmpty(), violations.size() + " " + what + ":\n  " + String.join("\n  ", violations));
    }
}
