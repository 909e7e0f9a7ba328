package io.cloister.restrictedmem;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.Pages;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedFile;
import io.cloister.api.restricted.RestrictedMemoryProvider;
import io.cloister.api.restricted.RestrictedStats;

/** The restricted-memory provider: creates files and keeps the totals over all of them. */
@Component(service = RestrictedMemoryProvider.class)
public final class RestrictedMemory implements RestrictedMemoryProvider {
    private static final Logger LOG = LoggerFactory.getLogger(RestrictedMemory.class);

    private final boolean linearIndex;
    private final AtomicLong nextId = new AtomicLong(1);
    private final Map<Long, RestrictedFileImpl> files = new ConcurrentHashMap<>();
    final LongAdder bindings = new LongAdder();

    public RestrictedMemory() {
        this(false);
    }

    private RestrictedMemory(boolean linearIndex) {
        this.linearIndex = linearIndex;
    }

    /** A provider whose files walk every binding on each conversion: the benchmark baseline only. */
    public static RestrictedMemory withLinearIndexForBaseline() {
        return new RestrictedMemory(true);
    }

    @Override
    public RestrictedFile create(String ownerVm, long size, PageState initial) {
        Pages.checkRange("restricted file size", 0, size);
        if (ownerVm == null || ownerVm.isBlank()) {
            throw new CloisterException(Errno.EINVAL, "a restricted file needs an owner VM");
        }
        if (initial == null) {
            throw new CloisterException(Errno.EINVAL, "a restricted file needs an initial page state");
        }
        long id = nextId.getAndIncrement();
        RestrictedFileImpl file;
        try {
            file = new RestrictedFileImpl(this, id, ownerVm, size, initial, linearIndex);
        } catch (OutOfMemoryError e) {
            throw new CloisterException(Errno.ENOMEM, "cannot map " + size + " bytes for a restricted file: " + e.getMessage());
        }
        files.put(id, file);
        return file;
    }

    void closed(RestrictedFileImpl file) {
        files.remove(file.id());
    }

    @Override
    public RestrictedStats stats() {
        long f = 0, alloc = 0, priv = 0, shared = 0, punched = 0;
        for (RestrictedFileImpl file : files.values()) {
            RestrictedStats s = file.stats();
            f += s.files();
            alloc += s.allocatedPages();
            priv += s.privatePages();
            shared += s.sharedPages();
            punched += s.punchedPages();
        }
        return new RestrictedStats(f, bindings.sum(), alloc, priv, shared, punched);
    }

    @Deactivate
    void deactivate() {
        if (!files.isEmpty()) {
            LOG.warn("{} restricted file(s) still open at shutdown; their memory is released with the process", files.size());
        }
    }
}
