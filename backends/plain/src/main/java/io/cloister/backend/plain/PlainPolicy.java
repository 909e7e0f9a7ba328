package io.cloister.backend.plain;

import java.util.List;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.PageState;

/** No confidential computing: every page shared, conversions refused, SMRAM/PAM aliases allowed. */
@Component(property = BackendPolicy.PROPERTY + "=plain")
public class PlainPolicy implements BackendPolicy {
    @Override
    public String name() {
        return "plain";
    }

    @Override
    public void validateLayout(List<SlotSpec> layout) {
        // Any layout: legacy SMM and PAM aliases are fine when nothing is private.
    }

    @Override
    public PageState initialState() {
        return PageState.SHARED;
    }

    @Override
    public long handle(GuestMemoryControl memory, GuestRequest request) {
        return -Errno.EOPNOTSUPP.code();
    }

    @Override
    public HostAccess hostAccess() {
        return HostAccess.DENY;
    }

    @Override
    public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        long priv = memory.privatePages();
        if (priv > 0) {
            throw new CloisterException(Errno.EINVAL, "backend plain cannot run VM '" + memory.vmName() + "': " + priv
                    + " of its pages are private and plain has no private memory");
        }
    }
}
