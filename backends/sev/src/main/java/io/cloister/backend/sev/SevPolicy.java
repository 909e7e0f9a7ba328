package io.cloister.backend.sev;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

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
 * the host from reading private memory, it only sees ciphertext: modelled here with a per-VM
 * AES key, the page's guest-physical address as tweak. Exclusivity (one binding per page) is
 * enforced in software by the restricted-memory provider, which is the seed's point.
 */
@Component(property = BackendPolicy.PROPERTY + "=sev")
public class SevPolicy implements BackendPolicy {
    private final Map<String, SecretKeySpec> keys = new ConcurrentHashMap<>();
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
     * Ciphertext of guest memory: AES-CTR under the VM's key with the page address as counter
     * base, so a byte always encrypts the same way wherever a read starts.
     */
    @Override
    public void hostReadPrivate(GuestMemoryControl memory, long gpa, MemorySegment dst) {
        SecretKeySpec key = keys.computeIfAbsent(memory.vmName(), vm -> newKey());
        try {
            Cipher cipher = Cipher.getInstance("AES/CTR/NoPadding");
            byte[] page = new byte[(int) Pages.SIZE];
            for (long done = 0; done < dst.byteSize(); ) {
                long at = gpa + done;
                long base = at & ~Pages.MASK;
                int skip = (int) (at - base);
                int n = (int) Math.min(dst.byteSize() - done, Pages.SIZE - skip);
                memory.readContent(at, MemorySegment.ofArray(page).asSlice(skip, n));
                cipher.init(Cipher.ENCRYPT_MODE, key, new IvParameterSpec(ByteBuffer.allocate(16).putLong(base).putLong(0).array()));
                byte[] out = cipher.doFinal(page, 0, skip + n);
                MemorySegment.copy(out, skip, dst, ValueLayout.JAVA_BYTE, done, n);
                done += n;
            }
        } catch (GeneralSecurityException e) {
            throw new CloisterException(Errno.EIO, "sev: encryption failed: " + e);
        }
    }

    private SecretKeySpec newKey() {
        byte[] k = new byte[32];
        random.nextBytes(k);
        return new SecretKeySpec(k, "AES");
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
        keys.computeIfAbsent(memory.vmName(), vm -> newKey());
    }

    @Override
    public void release(String vmName) {
        keys.remove(vmName);
    }
}
