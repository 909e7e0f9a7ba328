package io.cloister.backend.sev;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.concurrent.ArrayBlockingQueue;

import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * One VM's memory-encryption key as the host sees its effect: AES-128 in XEX mode with the
 * guest-physical address of each 16-byte block as the tweak,
 * {@code C = E_K1(P xor T) xor T} with {@code T = E_K2(address)}.
 *
 * This is the shape of SEV's memory encryption: a block cipher whose tweak is the address, with no
 * keystream. Equal plaintext at the same address gives equal ciphertext (the host can tell that a
 * block did not change, as on real hardware) and nothing more: the same plaintext elsewhere, or a
 * one-bit change, gives an unrelated block, and two reads of a block before and after a guest
 * write do not combine into the plaintext, which a counter mode keyed by the address would allow
 * (its keystream repeats per address, so C1 xor C2 = P1 xor P2).
 */
final class Xex {
    static final int BLOCK = 16;

    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.BIG_ENDIAN);

    private final SecretKeySpec dataKey;
    private final SecretKeySpec tweakKey;
    /**
     * Setting up a cipher costs more than encrypting a page, so used ones are kept for the next
     * read. A pool rather than one per thread: the keys go away with this object when the VM ends.
     */
    private final ArrayBlockingQueue<Encryptor> idle = new ArrayBlockingQueue<>(4);

    Xex(SecureRandom random) {
        dataKey = key(random);
        tweakKey = key(random);
        // One cipher pair now, while the bundle is sure to be wired: a host read may come after a
        // hot swap has stopped this bundle, when its class loader can load nothing more.
        idle.offer(newEncryptor());
    }

    private static SecretKeySpec key(SecureRandom random) {
        byte[] k = new byte[16];
        random.nextBytes(k);
        return new SecretKeySpec(k, "AES");
    }

    /** A pair of block ciphers for the caller alone ({@link Cipher} is not thread-safe); give it back when done. */
    Encryptor borrow() {
        Encryptor e = idle.poll();
        return e != null ? e : newEncryptor();
    }

    void giveBack(Encryptor e) {
        idle.offer(e); // dropped when the pool is full
    }

    private Encryptor newEncryptor() {
        try {
            Cipher data = Cipher.getInstance("AES/ECB/NoPadding");
            Cipher tweak = Cipher.getInstance("AES/ECB/NoPadding");
            data.init(Cipher.ENCRYPT_MODE, dataKey);
            tweak.init(Cipher.ENCRYPT_MODE, tweakKey);
            return new Encryptor(data, tweak);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/ECB is missing from this JDK: " + e, e);
        }
    }

    static final class Encryptor {
        private final Cipher data;
        private final Cipher tweak;
        private byte[] t = new byte[4096];

        private Encryptor(Cipher data, Cipher tweak) {
            this.data = data;
            this.tweak = tweak;
        }

        /**
         * Encrypts {@code buf[0, len)} in place: the plaintext of the blocks starting at guest-physical
         * {@code address}, which is 16-byte aligned, as is {@code len}.
         */
        void encrypt(long address, byte[] buf, int len) throws GeneralSecurityException {
            if (t.length < len) {
                t = new byte[len];
            }
            for (int i = 0; i < len; i += BLOCK) {
                LONGS.set(t, i, address + i); // the tweak's input: the block's address, then zeros
                LONGS.set(t, i + 8, 0L);
            }
            tweak.doFinal(t, 0, len, t, 0);
            xor(buf, t, len);
            data.doFinal(buf, 0, len, buf, 0);
            xor(buf, t, len);
        }

        private static void xor(byte[] buf, byte[] t, int len) {
            for (int i = 0; i < len; i += 8) {
                LONGS.set(buf, i, (long) LONGS.get(buf, i) ^ (long) LONGS.get(t, i));
            }
        }
    }
}
