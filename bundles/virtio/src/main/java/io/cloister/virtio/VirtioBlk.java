package io.cloister.virtio;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import io.cloister.api.CloisterException;
import io.cloister.api.Errno;
import io.cloister.api.device.DmaView;

/**
 * virtio-blk (device ID 2, virtio 1.x section 5.2) on a raw image file: read, write, flush, get-id
 * and write-zeroes, with Firecracker's cache types: {@code Unsafe} offers no flush (the guest
 * never waits for the host's disk), {@code Writeback} offers VIRTIO_BLK_F_FLUSH and a flush is an
 * fsync of the image. A read-only drive offers VIRTIO_BLK_F_RO and fails writes with IOERR.
 *
 * A request whose buffers lie in memory the device may not reach (a confidential guest's private
 * pages) fails with IOERR and the device goes on; a request shaped against the specification
 * (no header, no status byte) is a broken ring.
 */
final class VirtioBlk implements VirtioDevice {
    static final int SECTOR = 512;
    static final long F_SIZE_MAX = 1L << 1;
    static final long F_SEG_MAX = 1L << 2;
    static final long F_RO = 1L << 5;
    static final long F_BLK_SIZE = 1L << 6;
    static final long F_FLUSH = 1L << 9;
    static final long F_WRITE_ZEROES = 1L << 14;
    static final int T_IN = 0;
    static final int T_OUT = 1;
    static final int T_FLUSH = 4;
    static final int T_GET_ID = 8;
    static final int T_WRITE_ZEROES = 13;
    static final int S_OK = 0;
    static final int S_IOERR = 1;
    static final int S_UNSUPP = 2;
    /** The largest buffer (and so the most a request moves per descriptor) the device announces. */
    static final int SIZE_MAX = 1 << 20;
    static final int SEG_MAX = Virtqueue.MAX_SIZE - 2;
    static final int ID_BYTES = 20;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Firecracker's cache_type. */
    enum CacheType {
        UNSAFE, WRITEBACK
    }

    private final Path image;
    private final boolean readOnly;
    private final CacheType cache;
    private final String id;
    private final FileChannel file;
    private final long sectors;
    private final MemorySegment header = MemorySegment.ofArray(new byte[16]);
    private final MemorySegment statusByte = MemorySegment.ofArray(new byte[1]);

    /** Opens the image; IOException with the reason if it cannot be (checked before the VM starts). */
    VirtioBlk(Path image, boolean readOnly, CacheType cache, String id) throws IOException {
        this.image = image;
        this.readOnly = readOnly;
        this.cache = cache;
        this.id = id;
        this.file = readOnly ? FileChannel.open(image, StandardOpenOption.READ)
                : FileChannel.open(image, StandardOpenOption.READ, StandardOpenOption.WRITE);
        this.sectors = file.size() / SECTOR;
    }

    @Override
    public int deviceId() {
        return 2;
    }

    @Override
    public long features() {
        return F_SIZE_MAX | F_SEG_MAX | F_BLK_SIZE | (readOnly ? F_RO : F_WRITE_ZEROES)
                | (cache == CacheType.WRITEBACK ? F_FLUSH : 0);
    }

    @Override
    public int queues() {
        return 1;
    }

    @Override
    public long readConfig(int offset, int size) {
        // struct virtio_blk_config: capacity (0), size_max (8), seg_max (12), geometry (16), blk_size
        // (20), ..., max_write_zeroes_sectors (48), max_write_zeroes_seg (52), write_zeroes_may_unmap (56).
        ByteBuffer c = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        c.putLong(0, sectors).putInt(8, SIZE_MAX).putInt(12, SEG_MAX).putInt(20, SECTOR);
        c.putInt(48, (int) Math.min(sectors, 0xffffffffL)).putInt(52, 1);
        if (offset < 0 || offset + size > c.capacity()) {
            return 0;
        }
        return switch (size) {
            case 1 -> c.get(offset) & 0xffL;
            case 2 -> c.getShort(offset) & 0xffffL;
            case 4 -> c.getInt(offset) & 0xffffffffL;
            default -> c.getLong(offset);
        };
    }

    @Override
    public void serve(int index, Virtqueue queue, DmaView dma) throws RingException {
        for (Virtqueue.Chain chain; (chain = queue.next()) != null;) {
            queue.complete(chain, request(chain, dma));
        }
    }

    /** Serves one request; returns the bytes written into the guest's buffers (data and status). */
    private int request(Virtqueue.Chain chain, DmaView dma) throws RingException {
        var buffers = chain.buffers();
        if (buffers.size() < 2 || buffers.getFirst().writable() || buffers.getFirst().length() < 16) {
            throw new RingException("block request " + chain.head() + " has no 16-byte readable header");
        }
        Virtqueue.Buffer status = buffers.getLast();
        if (!status.writable() || status.length() < 1) {
            throw new RingException("block request " + chain.head() + " has no writable status byte");
        }
        var data = buffers.subList(1, buffers.size() - 1);
        int written = 0;
        int result;
        try {
            dma.read(buffers.getFirst().gpa(), header);
            int type = header.get(U32, 0);
            long sector = header.get(U64, 8);
            result = switch (type) {
                case T_IN -> {
                    written = transfer(data, sector, dma, true);
                    yield S_OK;
                }
                case T_OUT -> {
                    if (readOnly) {
                        yield S_IOERR;
                    }
                    transfer(data, sector, dma, false);
                    yield S_OK;
                }
                case T_FLUSH -> {
                    if (cache == CacheType.WRITEBACK) {
                        file.force(true);
                    }
                    yield S_OK;
                }
                case T_GET_ID -> {
                    written = getId(data, dma);
                    yield S_OK;
                }
                case T_WRITE_ZEROES -> readOnly ? S_IOERR : writeZeroes(data, dma);
                default -> S_UNSUPP;
            };
        } catch (CloisterException e) {
            if (e.errno() == Errno.EACCES) {
                result = S_IOERR; // private memory: this request fails, the device goes on
                written = 0;
            } else {
                throw new RingException("block request " + chain.head() + ": " + e.getMessage());
            }
        } catch (OutOfRange | IOException e) {
            result = S_IOERR;
            written = 0;
        }
        statusByte.set(ValueLayout.JAVA_BYTE, 0, (byte) result);
        try {
            dma.write(status.gpa(), statusByte);
        } catch (CloisterException e) {
            if (e.errno() != Errno.EACCES) {
                throw new RingException("block request " + chain.head() + ": status byte: " + e.getMessage());
            }
            return 0;
        }
        return written + 1;
    }

    /** A request past the end of the image, or data not in whole sectors. */
    private static final class OutOfRange extends Exception {
        private static final long serialVersionUID = 1L;
    }

    private int transfer(java.util.List<Virtqueue.Buffer> data, long sector, DmaView dma, boolean in)
            throws IOException, OutOfRange {
        long bytes = 0;
        for (Virtqueue.Buffer b : data) {
            if (b.writable() != in) {
                throw new OutOfRange(); // a read into device-readable buffers, or the other way round
            }
            bytes += Integer.toUnsignedLong(b.length());
        }
        if (bytes % SECTOR != 0 || sector < 0 || sector > sectors || bytes / SECTOR > sectors - sector) {
            throw new OutOfRange();
        }
        long position = sector * SECTOR;
        try (Arena arena = Arena.ofConfined()) {
            for (Virtqueue.Buffer b : data) {
                long length = Integer.toUnsignedLong(b.length());
                for (long done = 0; done < length;) {
                    int n = (int) Math.min(length - done, SIZE_MAX);
                    MemorySegment buf = arena.allocate(n);
                    if (in) {
                        readFully(buf.asByteBuffer(), position);
                        dma.write(b.gpa() + done, buf);
                    } else {
                        dma.read(b.gpa() + done, buf);
                        writeFully(buf.asByteBuffer(), position);
                    }
                    position += n;
                    done += n;
                }
            }
        }
        return in ? (int) bytes : 0;
    }

    private void readFully(ByteBuffer dst, long position) throws IOException {
        while (dst.hasRemaining()) {
            if (file.read(dst, position + dst.position()) < 0) {
                throw new IOException("image " + image + " shrank under the guest");
            }
        }
    }

    private void writeFully(ByteBuffer src, long position) throws IOException {
        while (src.hasRemaining()) {
            file.write(src, position + src.position());
        }
    }

    private int getId(java.util.List<Virtqueue.Buffer> data, DmaView dma) throws OutOfRange {
        if (data.size() != 1 || !data.getFirst().writable()) {
            throw new OutOfRange();
        }
        byte[] bytes = new byte[ID_BYTES];
        byte[] name = id.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(name, 0, bytes, 0, Math.min(name.length, ID_BYTES));
        int n = Math.min(ID_BYTES, data.getFirst().length());
        dma.write(data.getFirst().gpa(), MemorySegment.ofArray(bytes).asSlice(0, n));
        return n;
    }

    /** struct virtio_blk_discard_write_zeroes segments: sector (u64), num_sectors (u32), flags (u32). */
    private int writeZeroes(java.util.List<Virtqueue.Buffer> data, DmaView dma) throws IOException, OutOfRange {
        MemorySegment segment = MemorySegment.ofArray(new byte[16]);
        byte[] zeros = new byte[64 * 1024];
        for (Virtqueue.Buffer b : data) {
            if (b.writable() || b.length() % 16 != 0) {
                throw new OutOfRange();
            }
            for (int at = 0; at < b.length(); at += 16) {
                dma.read(b.gpa() + at, segment);
                long sector = segment.get(U64, 0);
                long count = Integer.toUnsignedLong(segment.get(U32, 8));
                if (sector < 0 || sector > sectors || count > sectors - sector) {
                    throw new OutOfRange();
                }
                for (long pos = sector * SECTOR, end = (sector + count) * SECTOR; pos < end;) {
                    int n = (int) Math.min(zeros.length, end - pos);
                    writeFully(ByteBuffer.wrap(zeros, 0, n), pos);
                    pos += n;
                }
            }
        }
        return S_OK;
    }

    @Override
    public void close() {
        try {
            file.close();
        } catch (IOException e) {
            // closing a file we only read or wrote: nothing left to lose
        }
    }
}
