package io.cloister.backend.sev;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.osgi.service.component.annotations.Component;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.memory.GuestMemoryControl;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.backend.HostAccess;
import io.cloister.api.memory.Pages;
import io.cloister.api.memory.SlotSpec;
import io.cloister.api.restricted.ContentRule;
import io.cloister.api.restricted.PageState;

/**
 * AMD SEV (and SEV-ES): private unless the guest maps a page shared (C-bit clear, then
 * MAP_GPA_RANGE); a conversion re-encrypts, so content is destroyed. The hardware does not stop
 * the host from reading private memory, it only sees ciphertext: modelled here with per-VM AES
 * keys in XEX mode, each 16-byte block's guest-physical address as tweak. Exclusivity (one
 * binding per page) is enforced in software by the restricted-memory provider, which is the
 * seed's point.
 */
@Component(property = BackendPolicy.PROPERTY + "=sev")
public class SevPolicy implements BackendPolicy {
    private final Map<String, Xex> keys = new ConcurrentHashMap<>();
    private final SecureRandom random = new SecureRandom();

    @Override
    public String name() {
        return "sev";
    }

    @Override
    public void validateLayout(List<SlotSpec> layout) {
    }

    @Override
    public PageState initialState() {
        return PageState.PRIVATE;
    }

    @Override
    public long handle(GuestMemoryControl memory, GuestRequest request) {
        if (request instanceof GuestRequest.MapGpaRange r) {
            return BackendPolicy.result(() -> memory.convert(r.gpa(), r.length(),
                    r.toPrivate() ? PageState.PRIVATE : PageState.SHARED, ContentRule.DESTROY));
        }
        return -Errno.EOPNOTSUPP.code();
    }

    @Override
    public HostAccess hostAccess() {
        return HostAccess.CIPHERTEXT;
    }

    /**
     * Ciphertext of guest memory: AES-128 XEX under the VM's keys with each 16-byte block's
     * guest-physical address as tweak (see {@link Xex}), so a byte encrypts the same wherever a
     * read starts, and only as the whole block it sits in.
     */
    @Override
    public void hostReadPrivate(GuestMemoryControl memory, long gpa, MemorySegment dst) {
        long length = dst.byteSize();
        if (gpa < 0 || gpa > Long.MAX_VALUE - length - Pages.SIZE) {
            throw new CloisterException(Errno.EFAULT, String.format("sev: host read [0x%x, +0x%x) is outside any guest memory",
                    gpa, length));
        }
        Xex xex = keys.computeIfAbsent(memory.vmName(), vm -> new Xex(random));
        Xex.Encryptor cipher = xex.borrow();
        byte[] blocks = new byte[(int) Pages.SIZE];
        try {
            for (long done = 0; done < length; ) {
                long at = gpa + done;
                int n = (int) Math.min(length - done, Pages.SIZE - (at & Pages.MASK));
                // The whole blocks around [at, at + n): a page holds whole blocks.
                long from = at & -Xex.BLOCK;
                int len = (int) (((at + n + Xex.BLOCK - 1) & -Xex.BLOCK) - from);
                memory.readContent(from, MemorySegment.ofArray(blocks).asSlice(0, len));
                cipher.encrypt(from, blocks, len);
                MemorySegment.copy(blocks, (int) (at - from), dst, ValueLayout.JAVA_BYTE, done, n);
                done += n;
            }
        } catch (GeneralSecurityException e) {
            throw new CloisterException(Errno.EIO, "sev: encryption failed: " + e);
        } finally {
            xex.giveBack(cipher);
        }
    }

    /** CPUID 0x8000001F: SME and SEV, the C-bit at 51; SEV_STATUS: SEV enabled. Every page usable. */
    private static final CocoCpu CPU = new CocoCpu() {
        @Override
        public int[] cpuid(int leaf, int subleaf) {
            return leaf == 0x8000001F ? new int[] {0x3, 51 | (1 << 6), 16, 1} : null;
        }

        @Override
        public Long msr(int msr) {
            return msr == 0xc0010131 ? 0x1L : null;
        }
    };

    @Override
    public CocoCpu cpu(GuestMemoryControl memory) {
        return CPU;
    }

    @Override
    public void adopt(GuestMemoryControl memory, List<SlotSpec> layout) {
        keys.computeIfAbsent(memory.vmName(), vm -> new Xex(random));
    }

    @Override
    public void release(String vmName) {
        keys.remove(vmName);
    }
}
