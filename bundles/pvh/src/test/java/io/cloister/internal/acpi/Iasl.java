package io.cloister.internal.acpi;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The ACPICA compiler and disassembler (Debian package acpica-tools), run in a scratch folder. */
public final class Iasl {
    private Iasl() {
    }

    /** The iasl on PATH, or null: tests that need it skip, saying so. */
    public static Path find() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "iasl");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    public static final String MISSING = "iasl is not installed (Debian package acpica-tools; .ci/run installs it)";

    /** Runs iasl with {@code args} in {@code dir}; its output, or an AssertionError with it if it fails. */
    static String run(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(find().toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("iasl " + String.join(" ", args) + " did not end within 60 s");
        }
        String text = new String(out, StandardCharsets.UTF_8);
        if (p.exitValue() != 0) {
            throw new AssertionError("iasl " + String.join(" ", args) + " failed with status " + p.exitValue() + ":\n" + text);
        }
        return text;
    }

    /** Disassembles one table (iasl -d) and returns the ASL it wrote. */
    public static String disassemble(Path dir, String name, byte[] table) throws IOException, InterruptedException {
        Files.write(dir.resolve(name + ".dat"), table);
        String log = run(dir, "-d", name + ".dat");
        if (log.contains("Error") || !Files.exists(dir.resolve(name + ".dsl"))) {
            throw new AssertionError("iasl -d " + name + ".dat reported errors:\n" + log);
        }
        return Files.readString(dir.resolve(name + ".dsl"));
    }

    /** Compiles ASL text to AML (iasl) and returns the table it wrote. */
    static byte[] compile(Path dir, String name, String asl) throws IOException, InterruptedException {
        Files.writeString(dir.resolve(name + ".asl"), asl);
        run(dir, "-p", name, name + ".asl");
        return Files.readAllBytes(dir.resolve(name + ".aml"));
    }
}
