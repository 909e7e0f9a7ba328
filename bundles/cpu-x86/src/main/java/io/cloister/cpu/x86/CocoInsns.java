package io.cloister.cpu.x86;

import io.cloister.api.backend.GuestRequest;
import io.cloister.api.cpu.Exit;

/**
 * The confidential-computing instructions: SNP's VMGEXIT (GHCB MSR protocol) and PVALIDATE, TDX's
 * TDCALL; their requests go to the backend as exits.
 */
abstract class CocoInsns extends Strings {
    static final long TDVMCALL_INVALID_OPERAND = 0x8000000000000000L;
    static final long TDX_OPERAND_INVALID = 0xc000010000000000L;
    static final long PVALIDATE_FAIL_INPUT = 1;
    static final long TDVMCALL_MAP_GPA = 0x10001;

    /** The SEV-ES/SNP GHCB MSR: the guest's requests in the MSR protocol, and our answers. */
    static final int MSR_GHCB = 0xc0010130;
    static final long GHCB_PSC_REQUEST = 0x014;
    static final long GHCB_PSC_RESPONSE = 0x015;
    long ghcbMsr;

    /**
     * The page-state change request of the GHCB MSR protocol: bits 51:12 the frame, 55:52 the
     * operation (1 private, 2 shared). Other requests are answered with an error response.
     */
    void vmgexit() {
        if ((ghcbMsr & 0xfff) != GHCB_PSC_REQUEST) {
            ghcbMsr = 0xfff; // "unsupported request" in the protocol's terms
            return;
        }
        long gpa = ghcbMsr & 0x000ffffffffff000L;
        int operation = (int) ((ghcbMsr >>> 52) & 0xf);
        if (operation != 1 && operation != 2) {
            ghcbMsr = GHCB_PSC_RESPONSE | (1L << 32);
            return;
        }
        awaiting = new Awaiting.GhcbPageStateChange();
        report(new Exit.Coco(new GuestRequest.SnpPageStateChange(gpa, 1, operation == 1)));
    }

    /** PVALIDATE rAX (a linear address), ECX = page size, EDX = validate: the backend validates or rescinds the page. */
    void pvalidate() {
        if ((r[RCX] & 0xffffffffL) != 0) {
            setReg(RAX, 4, 6); // FAIL_SIZEMISMATCH: 4 KiB pages only
            return;
        }
        long gpa;
        checkCoco = false;
        try {
            gpa = translate(r[RAX] & ~0xfffL, READ) & ~0xfffL;
        } finally {
            checkCoco = true;
        }
        awaiting = new Awaiting.SnpValidate();
        report(new Exit.Coco(new GuestRequest.SnpValidate(gpa, (r[RDX] & 1) != 0)));
    }

    /** TDG.VP.VMCALL&lt;MapGPA&gt; and TDG.MEM.PAGE.ACCEPT go to the backend; other leaves fail. */
    void tdcall() {
        long leaf = r[RAX];
        if (leaf == 0 && r[10] == 0 && r[11] == TDVMCALL_MAP_GPA) {
            awaiting = new Awaiting.TdxMapGpa();
            report(new Exit.Coco(new GuestRequest.TdxMapGpa(r[12], r[13])));
        } else if (leaf == 6) {
            awaiting = new Awaiting.TdxAccept();
            report(new Exit.Coco(new GuestRequest.TdxAccept(r[RCX] & ~0xfffL)));
        } else if (leaf == 0) {
            r[RAX] = 0;
            r[10] = TDVMCALL_INVALID_OPERAND;
        } else {
            r[RAX] = TDX_OPERAND_INVALID;
        }
    }

    CocoInsns(Wiring w) {
        super(w);
    }
}
