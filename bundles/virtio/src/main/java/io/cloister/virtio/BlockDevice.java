package io.cloister.virtio;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.ServiceScope;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;

import io.cloister.api.device.BusDevice;

/**
 * A drive: one factory configuration ({@value #PID}~name) per drive gives the VM it names a
 * virtio-blk device on a raw image file (as Firecracker's PUT /drives/{id}). The service carries
 * the property {@code vm}, so only that VM attaches it.
 */
@Component(configurationPid = BlockDevice.PID, configurationPolicy = ConfigurationPolicy.REQUIRE, scope = ServiceScope.PROTOTYPE,
        service = BusDevice.class)
@Designate(ocd = BlockDevice.Config.class, factory = true)
public class BlockDevice extends MmioSlot {
    static final String PID = "io.cloister.virtio.blk";

    @ObjectClassDefinition(name = "Cloister virtio-blk drive")
    @interface Config {
        @AttributeDefinition(description = "The VM that gets the drive")
        String vm();

        @AttributeDefinition(description = "The raw image file")
        String path();

        @AttributeDefinition(description = "Read-only: writes fail with IOERR")
        boolean readOnly() default false;

        @AttributeDefinition(description = "Unsafe (no flush offered) or Writeback (flush is fsync)")
        String cache() default "Unsafe";

        @AttributeDefinition(description = "What GET_ID answers (20 bytes at most)")
        String id() default "";

        @AttributeDefinition(description = "virtio-mmio slot 0-7: 0xd0000000 + 4 KiB x slot, IRQ 5, 6, 7, 9, 10, 11, 12, 13")
        int slot() default 0;
    }

    @Activate
    void activate(Config config) throws IOException {
        VirtioBlk.CacheType cache = switch (config.cache().toLowerCase(Locale.ROOT)) {
            case "unsafe" -> VirtioBlk.CacheType.UNSAFE;
            case "writeback" -> VirtioBlk.CacheType.WRITEBACK;
            default -> throw new IllegalArgumentException("drive " + config.path() + ": cache '" + config.cache()
                    + "' is neither Unsafe nor Writeback");
        };
        open(config.slot(), new VirtioBlk(Path.of(config.path()), config.readOnly(), cache, config.id()));
    }
}
