package io.cloister.internal.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Small synthetic bzImages with the setup header fields a 64-bit boot reads. */
final class BzImages {
    static final long PREF = 0x1000000;
    static final long INIT_SIZE = 0x200000;

    private BzImages() {
    }

    /**
     * A bzImage of protocol 2.15: one setup sector after the boot sector, then {@code payload}
     * bytes of "kernel" whose first byte is 0xfa (cli) and whose byte 0x200 is 0xf4 (hlt, the
     * 64-bit entry).
     */
    static byte[] image(int payload) {
        byte[] img = new byte[1024 + payload];
        ByteBuffer b = ByteBuffer.wrap(img).order(ByteOrder.LITTLE_ENDIAN);
        b.put(BzImageLoader.SETUP_SECTS, (byte) 1);
        b.putShort(BzImageLoader.BOOT_FLAG, (short) 0xaa55);
        b.put(BzImageLoader.JUMP, (byte) 0xeb);
        b.put(BzImageLoader.JUMP + 1, (byte) 0x66); // the header ends at 0x202 + 0x66 = 0x268
        b.putInt(BzImageLoader.HDRS, BzImageLoader.HDRS_MAGIC);
        b.putShort(BzImageLoader.VERSION, (short) 0x020f);
        b.put(BzImageLoader.LOADFLAGS, (byte) 0x01);
        b.putInt(0x214, 0x100000); // code32_start
        b.putInt(BzImageLoader.INITRD_ADDR_MAX, 0x7fffffff);
        b.putInt(BzImageLoader.KERNEL_ALIGNMENT, 0x200000);
        b.put(BzImageLoader.RELOCATABLE, (byte) 1);
        b.putShort(BzImageLoader.XLOADFLAGS, (short) (BzImageLoader.XLF_KERNEL_64 | BzImageLoader.XLF_CAN_BE_LOADED_ABOVE_4G));
        b.putInt(BzImageLoader.CMDLINE_SIZE, 2047);
        b.putLong(BzImageLoader.PREF_ADDRESS, PREF);
        b.putInt(BzImageLoader.INIT_SIZE, (int) INIT_SIZE);
        img[1024] = (byte) 0xfa;
        if (payload > 0x200) {
            img[1024 + 0x200] = (byte) 0xf4;
        }
        for (int i = 1025; i < img.length; i++) {
            if (i != 1024 + 0x200) {
                img[i] = (byte) (i * 7);
            }
        }
        return img;
    }
}
