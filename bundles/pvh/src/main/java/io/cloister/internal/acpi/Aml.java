package io.cloister.internal.acpi;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A small encoder of ACPI Machine Language (ACPI 6.5 chapter 20) for the DSDT: the objects a
 * virtual platform describes its devices with (scopes, devices, names, integers, strings, EISA
 * ids, packages, buffers) and the resource descriptors of a _CRS (chapter 6.4). No Java library
 * for AML is maintained, so the encoding is ours; AmlTest checks it byte for byte against what
 * iasl compiles and AcpiTablesTest decodes the whole DSDT with iasl -d.
 *
 * Every method returns the encoded bytes of one term, so terms nest as their arguments.
 */
final class Aml {
    static final int ZERO_OP = 0x00;
    static final int ONE_OP = 0x01;
    static final int NAME_OP = 0x08;
    static final int BYTE_PREFIX = 0x0a;
    static final int WORD_PREFIX = 0x0b;
    static final int DWORD_PREFIX = 0x0c;
    static final int STRING_PREFIX = 0x0d;
    static final int QWORD_PREFIX = 0x0e;
    static final int SCOPE_OP = 0x10;
    static final int BUFFER_OP = 0x11;
    static final int PACKAGE_OP = 0x12;
    static final int EXT_OP_PREFIX = 0x5b;
    static final int DEVICE_OP = 0x82;
    static final int ROOT_CHAR = 0x5c;
    static final int DUAL_NAME_PREFIX = 0x2e;
    static final int MULTI_NAME_PREFIX = 0x2f;

    private Aml() {
    }

    /** Scope(name) { terms }. */
    static byte[] scope(String name, byte[]... terms) {
        return op(new int[] {SCOPE_OP}, concat(nameString(name), concat(terms)));
    }

    /** Device(name) { terms }. */
    static byte[] device(String name, byte[]... terms) {
        return op(new int[] {EXT_OP_PREFIX, DEVICE_OP}, concat(nameString(name), concat(terms)));
    }

    /** Name(name, value). */
    static byte[] name(String name, byte[] value) {
        return concat(new byte[] {NAME_OP}, nameString(name), value);
    }

    /** An integer in the shortest encoding (ZeroOp, OneOp, Byte/Word/DWord/QWord constant). */
    static byte[] integer(long v) {
        if (v == 0) {
            return new byte[] {ZERO_OP};
        }
        if (v == 1) {
            return new byte[] {ONE_OP};
        }
        int size = Long.compareUnsigned(v, 0xff) <= 0 ? 1 : Long.compareUnsigned(v, 0xffff) <= 0 ? 2
                : Long.compareUnsigned(v, 0xffffffffL) <= 0 ? 4 : 8;
        int prefix = switch (size) {
            case 1 -> BYTE_PREFIX;
            case 2 -> WORD_PREFIX;
            case 4 -> DWORD_PREFIX;
            default -> QWORD_PREFIX;
        };
        byte[] out = new byte[1 + size];
        out[0] = (byte) prefix;
        for (int i = 0; i < size; i++) {
            out[1 + i] = (byte) (v >>> (8 * i));
        }
        return out;
    }

    /** A string constant: ASCII from 0x01 to 0x7f (the AML string character set), NUL-terminated. */
    static byte[] string(String s) {
        for (char c : s.toCharArray()) {
            if (c == 0 || c > 0x7f) {
                throw new IllegalArgumentException("AML strings hold ASCII 0x01-0x7f only: '" + s + "'");
            }
        }
        return concat(new byte[] {STRING_PREFIX}, s.getBytes(StandardCharsets.US_ASCII), new byte[] {0});
    }

    /**
     * EISAID("PNP0501"): three upper-case letters, compressed to five bits each, and four hex
     * digits, as the big-endian bytes of a DWordConst (what iasl's EisaId() macro makes).
     */
    static byte[] eisaId(String id) {
        if (!id.matches("[A-Z]{3}[0-9A-F]{4}")) {
            throw new IllegalArgumentException("an EISA id is three letters A-Z and four hex digits: '" + id + "'");
        }
        int c1 = id.charAt(0) - 0x40;
        int c2 = id.charAt(1) - 0x40;
        int c3 = id.charAt(2) - 0x40;
        int product = Integer.parseInt(id.substring(3), 16);
        long dword = ((c1 << 2) | (c2 >> 3)) & 0xff
                | (long) ((((c2 & 7) << 5) | c3) & 0xff) << 8
                | (long) (product >> 8) << 16
                | (long) (product & 0xff) << 24;
        byte[] out = new byte[5];
        out[0] = DWORD_PREFIX;
        for (int i = 0; i < 4; i++) {
            out[1 + i] = (byte) (dword >>> (8 * i));
        }
        return out;
    }

    /** Package() { elements }: at most 255 elements (the PackageOp's NumElements is a byte). */
    static byte[] pkg(byte[]... elements) {
        if (elements.length > 255) {
            throw new IllegalArgumentException("a Package holds at most 255 elements, not " + elements.length);
        }
        return op(new int[] {PACKAGE_OP}, concat(new byte[] {(byte) elements.length}, concat(elements)));
    }

    /** Buffer() { bytes }, its size given as an integer. */
    static byte[] buffer(byte[] bytes) {
        return op(new int[] {BUFFER_OP}, concat(integer(bytes.length), bytes));
    }

    /** ResourceTemplate() { descriptors }: a buffer of resource descriptors closed by an end tag. */
    static byte[] resourceTemplate(byte[]... descriptors) {
        // End tag with checksum 0, which means "no checksum" (what iasl writes).
        return buffer(concat(concat(descriptors), new byte[] {0x79, 0}));
    }

    /** IO(Decode16, base, base, 1, length): a fixed range of ports (small descriptor 0x47). */
    static byte[] io(int base, int length) {
        if (base < 0 || base > 0xffff || length < 1 || length > 0xff) {
            throw new IllegalArgumentException("bad IO descriptor 0x" + Integer.toHexString(base) + " +" + length);
        }
        return new byte[] {0x47, 1, (byte) base, (byte) (base >> 8), (byte) base, (byte) (base >> 8), 1, (byte) length};
    }

    /** IRQNoFlags() { irq }: an ISA interrupt, edge-triggered and active-high (small descriptor 0x22). */
    static byte[] irqNoFlags(int irq) {
        if (irq < 0 || irq > 15) {
            throw new IllegalArgumentException("an ISA IRQ is 0-15, not " + irq);
        }
        int mask = 1 << irq;
        return new byte[] {0x22, (byte) mask, (byte) (mask >> 8)};
    }

    /** Memory32Fixed(ReadWrite or ReadOnly, base, length) (large descriptor 0x86). */
    static byte[] memory32Fixed(boolean writable, long base, long length) {
        if (Long.compareUnsigned(base, 0xffffffffL) > 0 || Long.compareUnsigned(length, 0xffffffffL) > 0) {
            throw new IllegalArgumentException("Memory32Fixed takes 32-bit addresses and lengths");
        }
        byte[] out = {(byte) 0x86, 9, 0, (byte) (writable ? 1 : 0), 0, 0, 0, 0, 0, 0, 0, 0};
        putInt(out, 4, base);
        putInt(out, 8, length);
        return out;
    }

    /**
     * Interrupt(ResourceConsumer, Edge or Level, ActiveHigh or ActiveLow, Exclusive) { gsi }: an
     * extended interrupt (large descriptor 0x89), how devices beyond the ISA IRQs (virtio-mmio)
     * name their line.
     */
    static byte[] interrupt(long gsi, boolean level, boolean activeLow) {
        int flags = 0x01 /* consumer */ | (level ? 0 : 0x02) | (activeLow ? 0x04 : 0);
        byte[] out = {(byte) 0x89, 6, 0, (byte) flags, 1, 0, 0, 0, 0};
        putInt(out, 5, gsi);
        return out;
    }

    /**
     * A NameString: an optional root prefix '\' and dot-separated segments of up to four
     * characters (A-Z, 0-9, '_'; not starting with a digit), each padded with '_'.
     */
    static byte[] nameString(String name) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String rest = name;
        if (rest.startsWith("\\")) {
            out.write(ROOT_CHAR);
            rest = rest.substring(1);
        }
        String[] segs = rest.isEmpty() ? new String[0] : rest.split("\\.", -1);
        if (segs.length == 0) {
            out.write(0); // NullName: only the root itself
        } else if (segs.length == 2) {
            out.write(DUAL_NAME_PREFIX);
        } else if (segs.length > 2) {
            if (segs.length > 255) {
                throw new IllegalArgumentException("name with too many segments: " + name);
            }
            out.write(MULTI_NAME_PREFIX);
            out.write(segs.length);
        }
        for (String s : segs) {
            out.writeBytes(nameSeg(s, name));
        }
        return out.toByteArray();
    }

    private static byte[] nameSeg(String seg, String name) {
        if (!seg.matches("[A-Z_][A-Z0-9_]{0,3}")) {
            throw new IllegalArgumentException("bad AML name segment '" + seg + "' in '" + name + "'");
        }
        byte[] out = {'_', '_', '_', '_'};
        for (int i = 0; i < seg.length(); i++) {
            out[i] = (byte) seg.charAt(i);
        }
        return out;
    }

    /**
     * An opcode followed by a PkgLength and {@code body}. The PkgLength counts itself: one byte
     * up to 63 in all, else a lead byte with the count of following bytes and the low four bits,
     * then the rest eight bits at a time (ACPI 6.5 section 20.2.4).
     */
    static byte[] op(int[] opcode, byte[] body) {
        byte[] len = pkgLength(body.length);
        byte[] out = new byte[opcode.length + len.length + body.length];
        for (int i = 0; i < opcode.length; i++) {
            out[i] = (byte) opcode[i];
        }
        System.arraycopy(len, 0, out, opcode.length, len.length);
        System.arraycopy(body, 0, out, opcode.length + len.length, body.length);
        return out;
    }

    static byte[] pkgLength(int bodyLength) {
        if (bodyLength + 1 <= 0x3f) {
            return new byte[] {(byte) (bodyLength + 1)};
        }
        for (int n = 2; n <= 4; n++) {
            long total = (long) bodyLength + n;
            if (total < 1L << (4 + 8 * (n - 1))) {
                byte[] out = new byte[n];
                out[0] = (byte) (((n - 1) << 6) | (total & 0xf));
                for (int i = 1; i < n; i++) {
                    out[i] = (byte) (total >>> (4 + 8 * (i - 1)));
                }
                return out;
            }
        }
        throw new IllegalArgumentException("AML object of " + bodyLength + " bytes is too large for a PkgLength");
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static void putInt(byte[] b, int at, long v) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (v >>> (8 * i));
        }
    }
}
