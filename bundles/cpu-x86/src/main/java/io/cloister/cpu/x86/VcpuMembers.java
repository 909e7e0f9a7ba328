package io.cloister.cpu.x86;

import java.lang.constant.ClassDesc;
import java.lang.constant.MethodTypeDesc;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * The members of {@link X86Vcpu}, and the static methods of this package, that bytecode emitted by
 * {@link BlockCompiler} names. Each one is
 * resolved when this class initialises, with the access the emitted code has (a hidden class of
 * this package): a member renamed, retyped or made private fails the first block compiled, in the
 * first test that compiles one, naming the member. Emitted code links lazily, so a name string
 * alone would fail only when a guest first runs an instruction that uses it.
 */
final class VcpuMembers {
    static final ClassDesc CPU = ClassDesc.of(X86Vcpu.class.getName());
    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();

    /** A field of the vCPU that emitted code reads or writes. */
    record Field(String name, ClassDesc type) {
    }

    /** An instance method that emitted code calls (or, for {@link #BLOCK_RUN}, defines). */
    record Method(String name, MethodTypeDesc type) {
    }

    /** A static method of this package that emitted code calls: the same code the other paths run. */
    record Static(ClassDesc owner, String name, MethodTypeDesc type) {
    }

    /** The method each compiled block defines. */
    static final Method BLOCK_RUN = method(Block.class, "run", long.class, X86Vcpu.class, long[].class, long.class);

    // Block state: how many instructions completed, whether a write hit code or MMIO
    static final Field POS = field("pos", int.class);
    static final Field BLOCK_STOP = field("blockStop", boolean.class);
    /** A block's branch back to one of its instructions: whether it goes round again (DecodedPath.loopBack). */
    static final Method LOOP_BACK = method("loopBack", boolean.class, int.class);
    /** A block's branch forward to one of its instructions: the ones it jumps over come off the count (DecodedPath.skip). */
    static final Method SKIP = method("skip", void.class, int.class);
    /** A block's instruction that runs through its op (DecodedPath.blockOp). */
    static final Method BLOCK_OP = method("blockOp", boolean.class, int.class);
    /** The vCPU's rip: what a block returns where an instruction run by its op did not go on (DecodedPath.blockOp). */
    static final Field RIP_FIELD = field("rip", long.class);

    // Registers, memory, stack
    static final Method SEG_BASE = method("segBase", long.class, int.class);
    /**
     * Memory.load1..load8 and store1..store8: the fast tables' hit, inlined into the block, else
     * rd1..wr8. What blocks call.
     */
    static final Method[] LOAD_SIZED = {method("load1", long.class, long.class, long[].class, int.class),
            method("load2", long.class, long.class, long[].class, int.class),
            method("load4", long.class, long.class, long[].class, int.class),
            method("load8", long.class, long.class, long[].class, int.class)};
    static final Method[] STORE_SIZED = {method("store1", void.class, long.class, long.class, long[].class, int.class),
            method("store2", void.class, long.class, long.class, long[].class, int.class),
            method("store4", void.class, long.class, long.class, long[].class, int.class),
            method("store8", void.class, long.class, long.class, long[].class, int.class)};
    /** Memory.fastTables: where the fast tables of the block's privilege start, taken once at the block's entry. */
    static final Method FAST_TABLES = method("fastTables", int.class);
    /** Memory.fastArray: the fast tables themselves, taken once at the block's entry. */
    static final Method FAST_ARRAY = method("fastArray", long[].class);
    static final Method PUSH = method("push", void.class, long.class, int.class);
    static final Method POP = method("pop", long.class, int.class);
    static final Method TARGET = method("target", long.class, long.class);

    // Integer ALU with lazy flags
    static final Method ADD_FAST = method("addFast", long.class, long.class, long.class, int.class);
    static final Method SUB_FAST = method("subFast", long.class, long.class, long.class, int.class);
    static final Method ADC_FAST = method("adcFast", long.class, long.class, long.class, long.class, int.class);
    static final Method SBB_FAST = method("sbbFast", long.class, long.class, long.class, long.class, int.class);
    static final Method LOGIC_FAST = method("logicFast", long.class, int.class, long.class, long.class, int.class);
    static final Method COND_FAST = method("condFast", boolean.class, int.class);
    static final Method CARRY_FLAG = method("carryFlag", long.class);
    static final Method IMUL_FAST = method("imulFast", long.class, long.class, long.class, int.class);
    static final Method SHIFT_FAST = method("shiftFast", long.class, int.class, long.class, int.class, int.class);
    static final Method INC_DEC_FAST = method("incDecFast", long.class, int.class, long.class, int.class);
    static final Method GROUP3_FAST = method("group3Fast", long.class, int.class, long.class, int.class);
    static final Method CONVERT = method("convert", void.class, int.class, int.class);
    static final Method BIT_SCAN = method("bitScan", void.class, int.class, int.class, long.class, int.class);
    static final Static BSWAP = staticMethod(Alu.class, "bswap", long.class, long.class, int.class);

    // Conditions of the block's last flag-setting instruction, its operands in the block's locals
    static final Static COND_SUB = staticMethod(Conditions.class, "afterSub", int.class, int.class, long.class, long.class, int.class);
    static final Static COND_ADD = staticMethod(Conditions.class, "afterAdd", int.class, int.class, long.class, long.class, int.class);
    static final Static COND_LOGIC = staticMethod(Conditions.class, "afterLogic", int.class, int.class, long.class, int.class);

    private VcpuMembers() {
    }

    static Field field(String name, Class<?> type) {
        try {
            LOOKUP.findGetter(X86Vcpu.class, name, type);
            LOOKUP.findSetter(X86Vcpu.class, name, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("compiled blocks use field X86Vcpu." + name + " of type " + type.getName()
                    + ", which they cannot reach: " + e.getMessage(), e);
        }
        return new Field(name, type.describeConstable().orElseThrow());
    }

    static Method method(String name, Class<?> returns, Class<?>... parameters) {
        return method(X86Vcpu.class, name, returns, parameters);
    }

    static Static staticMethod(Class<?> owner, String name, Class<?> returns, Class<?>... parameters) {
        MethodType type = MethodType.methodType(returns, parameters);
        try {
            LOOKUP.findStatic(owner, name, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("compiled blocks use " + owner.getSimpleName() + "." + name + type
                    + ", which they cannot reach: " + e.getMessage(), e);
        }
        return new Static(ClassDesc.of(owner.getName()), name, type.describeConstable().orElseThrow());
    }

    private static Method method(Class<?> owner, String name, Class<?> returns, Class<?>... parameters) {
        MethodType type = MethodType.methodType(returns, parameters);
        try {
            LOOKUP.findVirtual(owner, name, type);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("compiled blocks use " + owner.getSimpleName() + "." + name + type
                    + ", which they cannot reach: " + e.getMessage(), e);
        }
        return new Method(name, type.describeConstable().orElseThrow());
    }
}
