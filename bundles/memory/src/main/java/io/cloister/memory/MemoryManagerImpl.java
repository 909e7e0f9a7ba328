package io.cloister.memory;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.memory.MemoryManager;

/** The memory manager: one address space per VM. */
@Component(service = MemoryManager.class)
public final class MemoryManagerImpl implements MemoryManager {
    private static final Logger LOG = LoggerFactory.getLogger(MemoryManagerImpl.class);
    private final Set<AddressSpace> spaces = ConcurrentHashMap.newKeySet();

    @Override
    public Created create(String vmName) {
        if (vmName == null || vmName.isBlank()) {
            throw new CloisterException(Errno.EINVAL, "an address space needs a VM name");
        }
        AddressSpace space = new AddressSpace(this, vmName);
        spaces.add(space);
        return new Created(space, space.guestView());
    }

    void closed(AddressSpace space) {
        spaces.remove(space);
    }

    /** Address spaces created and not closed. */
    int openSpaces() {
        return spaces.size();
    }

    @Deactivate
    void deactivate() {
        for (AddressSpace s : spaces) {
            LOG.warn("closing {} at shutdown", s);
            s.close();
        }
    }
}
