package io.cloister.virtio;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

/**
 * A drive: one factory configuration ({@value #PID}~name) per drive gives the VM it names a
 * virtio-blk device on a raw image file (as Firecracker's PUT /drives/{id}). The service carries
 * the property {@code vm}, so only that VM attaches it, and {@value #ROOT} and {@value #READ_ONLY},
 * from which the VMM adds {@code root=/dev/vdX ro|rw} to the kernel command line.
 */
@Component(configurationPid = BlockDevice.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, service = {})
@Designate(ocd = BlockDevice.Config.class, factory = true)
public class BlockDevice extends MmioSlot {
    static final String PID = "io.cloister.virtio.blk";
    /** Service property (Boolean): the guest's root device (Firecracker's is_root_device). */
    static final String ROOT = "drive.root";
    /** Service property (Boolean): writes fail. */
    static final String READ_ONLY = "drive.readOnly";
    /** Service property (String): the drive's id. */
    static final String ID = "drive.id";

    @ObjectClassDefinition(name = "Cloister virtio-blk drive")
    @interface Config {
        @AttributeDefinition(description = "The VM that gets the drive")
        String vm();

        @AttributeDefinition(description = "The raw image file")
        String path();

        @AttributeDefinition(description = "Read-only: writes fail with IOERR")
        boolean readOnly() default false;

        @AttributeDefinition(description = "The guest's root device: the kernel command line gets root=/dev/vdX")
        boolean root() default false;

        @AttributeDefinition(description = "Unsafe (no flush offered) or Writeback (flush is fsync)")
        String cache() default "Unsafe";

        @AttributeDefinition(description = "What GET_ID answers (20 bytes at most)")
        String id() default "";

        @AttributeDefinition(description = "virtio-mmio slot 0-7: 0xd0000000 + 4 KiB x slot, IRQ 5, 6, 7, 10, 11, 12, 13, 14")
        int slot() default 0;
    }

    /** Firecracker's cache_type, in any case; IllegalArgumentException for anything else. */
    static VirtioBlk.CacheType cache(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "unsafe" -> VirtioBlk.CacheType.UNSAFE;
            case "writeback" -> VirtioBlk.CacheType.WRITEBACK;
            default -> throw new IllegalArgumentException("cache '" + value + "' is neither Unsafe nor Writeback");
        };
    }

    @Activate
    void activate(Config config, BundleContext context, Map<String, Object> properties) throws IOException {
        VirtioBlk.CacheType cache;
        try {
            cache = cache(config.cache());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("drive " + config.path() + ": " + e.getMessage());
        }
        Path path = Path.of(config.path());
        register(context, properties, config.vm(), config.slot(), Map.of(ROOT, config.root(), READ_ONLY, config.readOnly(), ID, config.id()),
                () -> new VirtioBlk(path, config.readOnly(), cache, config.id()));
    }

    @Deactivate
    void deactivate() {
        unregister();
    }
}
