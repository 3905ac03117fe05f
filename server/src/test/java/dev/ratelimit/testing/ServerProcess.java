package dev.ratelimit.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The server as a separate JVM ({@code dev.ratelimit.Main} on this test's classpath), so a test can kill it for real.
 * It gets the JVM options this JVM was started with that Chronicle Map needs (the parent pom's {@code jvm.opens},
 * passed by Surefire), so the list stays in one place. It binds an ephemeral port itself and {@link #port()} reads it
 * from its start log line, so no port is ever picked here and released for another process to take meanwhile.
 */
public final class ServerProcess implements AutoCloseable {
  /** {@code RateLimitServer.start}'s line, also in NOOP mode: "started [in NOOP mode ...] on 127.0.0.1:PORT". */
  private static final Pattern STARTED = Pattern.compile("\\bstarted\\b.*? on 127\\.0\\.0\\.1:(\\d+)");
  /** A start takes 2-5 s on a quiet machine; well over 60 s was seen with other builds on the same 2 cores. */
  private static final long START_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(120);

  private final Process process;
  private final Path log;
  /** Where this process's output starts in {@code log}, which earlier processes of a test may have written to. */
  private final long logOffset;
  private int port;

  private ServerProcess(Process process, Path log, long logOffset) {
    this.process = process;
    this.log = log;
    this.logOffset = logOffset;
  }

  /** Starts {@code dev.ratelimit.Main --bind 127.0.0.1 --port 0} plus {@code args}; output is appended to {@code log}. */
  public static ServerProcess start(Path log, String... args) throws IOException {
    long logOffset = Files.exists(log) ? Files.size(log) : 0;
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command()
        .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
    for (String option : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (option.startsWith("--add-opens") || option.startsWith("--add-exports")
          || option.startsWith("--enable-native-access") || option.startsWith("--sun-misc-unsafe-memory-access")) {
        command.add(option);
      }
    }
    command.add("-Dchronicle.analytics.disable=true");
    command.add("-Dorg.slf4j.simpleLogger.defaultLogLevel=info");
    command.add("-Xmx256m");
    command.add("-XX:+UseSerialGC");
    command.add("-XX:TieredStopAtLevel=1");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add("dev.ratelimit.Main");
    command.add("--bind");
    command.add("127.0.0.1");
    command.add("--port");
    command.add("0");
    if (!List.of(args).contains("--admin-port")) {
      // No fixed admin port: a server left running on the default one (or a parallel test run) must not collide.
      command.add("--admin-port");
      command.add("-1");
    }
    if (!List.of(args).contains("--admin-grpc-port")) {
      command.add("--admin-grpc-port"); // likewise for the admin gRPC listener's 9091
      command.add("-1");
    }
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    return new ServerProcess(process, log, logOffset);
  }

  /**
   * The gRPC port the server bound, waiting (up to 120 s) for its start log line.
   *
   * @throws IllegalStateException when the process exits or does not log its start in time (with its output)
   */
  public synchronized int port() {
    long deadline = System.nanoTime() + START_TIMEOUT_NANOS;
    while (port == 0) {
      Matcher started = STARTED.matcher(ownOutput());
      if (started.find()) {
        port = Integer.parseInt(started.group(1));
      } else if (!process.isAlive()) {
        throw new IllegalStateException("the server exited (" + process.exitValue() + ") before it started:\n"
            + ownOutput());
      } else if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the server did not log its start within 120 s:\n" + ownOutput());
      } else {
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting for the server to start", e);
        }
      }
    }
    return port;
  }

  public Process process() {
    return process;
  }

  /** SIGKILL on Linux: no shutdown hook runs, nothing is flushed or closed. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    if (!process.waitFor(10, TimeUnit.SECONDS)) {
      throw new IllegalStateException("the server process did not die after SIGKILL");
    }
  }

  /** SIGTERM: the graceful shutdown path; returns the exit code. */
  public int stop() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new IllegalStateException("the server did not stop within 30 s of SIGTERM");
    }
    return process.exitValue();
  }

  /** The process's output so far, for assertion messages. */
  public String output() {
    try {
      return Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(cannot read " + log + ": " + e + ")";
    }
  }

  /** This process's output only: the log may hold earlier processes' lines, with other ports. */
  private String ownOutput() {
    try {
      byte[] all = Files.readAllBytes(log);
      int from = (int) Math.min(logOffset, all.length);
      return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the server's log " + log, e);
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
    }
  }
}
