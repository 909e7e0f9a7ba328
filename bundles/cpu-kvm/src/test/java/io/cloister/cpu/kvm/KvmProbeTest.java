package io.cloister.cpu.kvm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Where KVM cannot be used, the reason names the device or the call and its errno (no KVM needed). */
class KvmProbeTest {
    @Test
    void aMissingDeviceIsNamed() {
        assertEquals("no /dev/no-such-kvm on this host", KvmEngine.probe("/dev/no-such-kvm"));
    }

    @Test
    void aDeviceThatIsNotKvmFailsOnTheFirstIoctl() {
        // /dev/null opens, but knows no KVM ioctl.
        assertEquals("KVM_GET_API_VERSION failed: errno 25 (ENOTTY)", KvmEngine.probe("/dev/null"));
    }
}
