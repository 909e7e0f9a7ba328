package io.cloister.cpu.x86;

/** x87 loads, stores and arithmetic on exact 80-bit values. */
abstract class X87Arith extends X87Insns {
    @Override
    void x87Arith(int op, int b, int which, boolean mem) {
        throw ud();
    }

    X87Arith(Wiring w) {
        super(w);
    }
}
