package dev.ratelimit.bench;

import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;

/**
 * Entry point of {@code benchmarks.jar}: JMH's own command line, plus the JVM options Chronicle Map needs
 * ({@code jvm.opens} of the parent pom, filtered into {@code bench.properties}) appended to every forked JVM,
 * so {@code java -jar benchmarks/target/benchmarks.jar -prof gc} just works.
 */
public final class BenchMain {
    private BenchMain() {
    }

    /** Runs JMH with the given arguments. */
    public static void main(String[] args) throws RunnerException, IOException {
        CommandLineOptions cmd;
        try {
            cmd = new CommandLineOptions(args);
        } catch (CommandLineOptionException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
            return;
        }
        if (cmd.shouldHelp()) {
            cmd.showHelp();
            return;
        }
        if (cmd.shouldListProfilers()) {
            cmd.listProfilers();
            return;
        }
        if (cmd.shouldListResultFormats()) {
            cmd.listResultFormats();
            return;
        }
        List<String> jvmArgs = new ArrayList<>(jvmOpens());
        if (cmd.getJvmArgsAppend().hasValue()) {
            jvmArgs.addAll(cmd.getJvmArgsAppend().get());
        }
        Options options = new OptionsBuilder().parent(cmd).jvmArgsAppend(jvmArgs.toArray(String[]::new)).build();
        Runner runner = new Runner(options);
        if (cmd.shouldList() || cmd.shouldListWithParams()) {
            runner.list();
            return;
        }
        runner.run();
    }

    /** The {@code --add-opens/--add-exports} list from the parent pom. */
    static List<String> jvmOpens() throws IOException {
        Properties p = new Properties();
        try (InputStream in = BenchMain.class.getResourceAsStream("/bench.properties")) {
            if (in == null) {
                throw new IllegalStateException("bench.properties missing from the classpath; build with mvn -pl benchmarks -am package");
            }
            p.load(in);
        }
        String opens = p.getProperty("jvm.opens", "").trim();
        return opens.isEmpty() ? List.of() : Arrays.asList(opens.split("\\s+"));
    }
}
