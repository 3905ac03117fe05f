package dev.ratelimit.testing;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The server as a separate JVM ({@code dev.ratelimit.Main} on this test's classpath), so a test can kill it for real.
 * It gets the JVM options this JVM was started with that Chronicle Map needs (the parent pom's {@code jvm.opens},
 * passed by Surefire), so the list stays in one place.
 */
public final class ServerProcess implements AutoCloseable {
  private final Process process;
  private final Path log;
  private final int port;

  private ServerProcess(Process process, Path log, int port) {
    this.process = process;
    this.log = log;
    this.port = port;
  }

  /** Starts {@code dev.ratelimit.Main --bind 127.0.0.1 --port <free port>} plus {@code args}; output goes to {@code log}. */
  public static ServerProcess start(Path log, String... args) throws IOException {
    int port = freePort();
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
    command.add(Integer.toString(port));
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
    return new ServerProcess(process, log, port);
  }

  public int port() {
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

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
    }
  }
}
