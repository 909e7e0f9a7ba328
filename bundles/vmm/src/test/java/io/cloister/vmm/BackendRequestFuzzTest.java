package io.cloister.vmm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Timeout;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import io.cloister.api.Errno;
import io.cloister.api.backend.BackendPolicy;
import io.cloister.api.backend.CocoCpu;
import io.cloister.api.backend.GuestRequest;
import io.cloister.api.memory.Pages;
import io.cloister.api.restricted.PageState;
import io.cloister.api.restricted.RestrictedStats;
import io.cloister.backend.pkvm.PkvmPolicy;
import io.cloister.backend.plain.PlainPolicy;
import io.cloister.backend.sev.SevPolicy;
import io.cloister.backend.snp.SnpPolicy;
import io.cloister.backend.tdx.TdxPolicy;
import io.cloister.testkit.TestGuest;

/**
 * Hypercall arguments are the guest's to choose: a sequence of arbitrary requests to any backend
 * policy, over real restricted memory, must only ever get 0 or a negative errno back (the policy
 * contract: "must not throw for a guest's mistake"), leave every page's state alone when refused,
 * change only the pages asked for when granted, and keep the page counts equal to the pages'
 * states. Seeds: BackendRequestFuzzTestInputs/handle/.
 */
class BackendRequestFuzzTest {
    static final long PAGES = 64;
    static final long RAM = PAGES * Pages.SIZE;
    static final List<Supplier<BackendPolicy>> POLICIES = List.of(PlainPolicy::new, SevPolicy::new, SnpPolicy::new,
            TdxPolicy::new, PkvmPolicy::new);
    static final Set<Long> ERRNOS = Arrays.stream(Errno.values()).map(e -> (long) -e.code()).collect(Collectors.toSet());

    @FuzzTest(maxDuration = "20s")
    @Timeout(10)
    void handle(FuzzedDataProvider data) {
        BackendPolicy policy = POLICIES.get(data.consumeInt(0, POLICIES.size() - 1)).get();
        try (TestGuest g = new TestGuest("fuzz", RAM, policy.initialState())) {
            // Unadopted, SNP and TDX must refuse (they keep per-VM state); adopted, they serve.
            if (data.consumeBoolean()) {
                policy.adopt(g.view, g.layout);
            }
            for (int i = 0; i < 16 && data.remainingBytes() > 0; i++) {
                GuestRequest request = request(data);
                PageState[] before = states(g);
                long rax = policy.handle(g.view, request);
                PageState[] after = states(g);
                String what = policy.name() + " " + request + " -> " + rax;
                assertTrue(rax == 0 || ERRNOS.contains(rax), what + ": neither 0 nor a negative errno");
                if (rax != 0) {
                    assertArrayEquals(before, after, what + ": a refused request changed pages");
                } else {
                    for (int p = 0; p < PAGES; p++) {
                        if (before[p] != after[p]) {
                            assertTrue(asked(policy, request, p * Pages.SIZE, after[p]), what + ": page " + p + " became "
                                    + after[p] + " without being asked to");
                        }
                    }
                }
                long priv = Arrays.stream(after).filter(s -> s == PageState.PRIVATE).count();
                assertEquals(priv, g.view.privatePages(), what + ": private page count");
                RestrictedStats stats = g.provider.stats();
                assertEquals(priv, stats.privatePages(), what + ": restricted-memory private pages");
                assertEquals(PAGES - priv, stats.sharedPages(), what + ": restricted-memory shared pages");
                CocoCpu cpu = policy.cpu(g.view);
                for (long p = 0; p < PAGES; p++) {
                    cpu.mayAccess(p * Pages.SIZE); // must answer, not throw, for every page of RAM
                }
            }
        }
    }

    /** A request of any kind: addresses and counts mostly near guest RAM, sometimes anything at all. */
    static GuestRequest request(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 6)) {
            case 0 -> new GuestRequest.MapGpaRange(gpa(data), count(data), data.consumeBoolean()
                    ? data.pickValue(new long[] {0, GuestRequest.MapGpaRange.ATTR_ENCRYPTED}) : data.consumeLong());
            case 1 -> new GuestRequest.TdxMapGpa(gpa(data), data.consumeBoolean() ? count(data) * Pages.SIZE : data.consumeLong());
            case 2 -> new GuestRequest.TdxAccept(gpa(data));
            case 3 -> new GuestRequest.SnpPageStateChange(gpa(data), count(data), data.consumeBoolean());
            case 4 -> new GuestRequest.SnpValidate(gpa(data), data.consumeBoolean());
            case 5 -> new GuestRequest.PkvmShare(gpa(data), count(data));
            default -> new GuestRequest.PkvmUnshare(gpa(data), count(data));
        };
    }

    static long gpa(FuzzedDataProvider data) {
        return switch (data.consumeInt(0, 3)) {
            case 0 -> data.consumeLong(0, PAGES + 2) * Pages.SIZE;
            case 1 -> data.consumeLong(0, RAM + 2 * Pages.SIZE);
            case 2 -> data.consumeLong(0, PAGES + 2) * Pages.SIZE | TdxPolicy.SHARED_BIT;
            default -> data.consumeLong();
        };
    }

    static long count(FuzzedDataProvider data) {
        return data.consumeBoolean() ? data.consumeLong(0, PAGES + 2) : data.consumeLong();
    }

    static PageState[] states(TestGuest g) {
        PageState[] s = new PageState[(int) PAGES];
        for (int p = 0; p < PAGES; p++) {
            s[p] = g.view.state(p * Pages.SIZE);
        }
        return s;
    }

    /** Whether a granted {@code request} asked for the page at {@code gpa} to become {@code state}. */
    static boolean asked(BackendPolicy policy, GuestRequest request, long gpa, PageState state) {
        // TDX addresses shared memory with the shared bit; its policy strips it off every address.
        long mask = policy instanceof TdxPolicy ? ~TdxPolicy.SHARED_BIT : ~0L;
        return switch (request) {
            case GuestRequest.MapGpaRange r -> within(gpa, r.gpa() & mask, r.pages() * Pages.SIZE)
                    && state == (r.toPrivate() ? PageState.PRIVATE : PageState.SHARED);
            case GuestRequest.TdxMapGpa r -> within(gpa, r.gpa() & mask, r.length())
                    && state == ((r.gpa() & TdxPolicy.SHARED_BIT) == 0 ? PageState.PRIVATE : PageState.SHARED);
            case GuestRequest.SnpPageStateChange r -> within(gpa, r.gpa(), r.pages() * Pages.SIZE)
                    && state == (r.toPrivate() ? PageState.PRIVATE : PageState.SHARED);
            case GuestRequest.PkvmShare r -> within(gpa, r.gpa(), r.pages() * Pages.SIZE) && state == PageState.SHARED;
            case GuestRequest.PkvmUnshare r -> within(gpa, r.gpa(), r.pages() * Pages.SIZE) && state == PageState.PRIVATE;
            case GuestRequest.TdxAccept r -> false;
            case GuestRequest.SnpValidate r -> false;
        };
    }

    private static boolean within(long gpa, long start, long length) {
        return gpa >= start && gpa - start < length;
    }
}
