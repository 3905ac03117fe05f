package dev.ratelimit.durability;

import org.junit.jupiter.api.Tag;
import dev.ratelimit.store.StoreSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A real server process stopped with SIGTERM drains, closes its data file cleanly and logs the way out. */
@Tag("process")
class SigtermTest {
  private static final Pattern STARTED =
      Pattern.compile("started on 127\\.0\\.0\\.1:(\\d+) .*admin HTTP on 127\\.0\\.0\\.1:(\\d+);");

  @TempDir
  Path dir;

  @Test
  void sigtermLeavesACleanDataFileWithEveryCount() throws Exception {
    Path data = dir.resolve("counters.dat");
    List<String> command = new ArrayList<>();
    command.add(ProcessHandle.current().info().command().orElse("java"));
    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
        .filter(a -> a.startsWith("--add-opens") || a.startsWith("--add-exports"))
        .forEach(command::add);
    command.addAll(List.of("-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
        "-cp", System.getProperty("java.class.path"), Main.class.getName(),
        "--bind", "127.0.0.1", "--port", "0", "--admin-port", "0", "--admin-grpc-port", "0",
        "--data-file", data.toString(),
        "--max-entries", "10000", "--average-value-bytes", "260"));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(
          new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
        for (String line; (line = in.readLine()) != null; ) {
          lines.add(line);
        }
      } catch (java.io.IOException e) {
        lines.add("reader failed: " + e);
      }
    }, "server-output");
    reader.setDaemon(true);
    reader.start();
    List<String> seen = new ArrayList<>();
    try {
      Matcher started = null;
      while (started == null) {
        String line = lines.poll(60, TimeUnit.SECONDS);
        assertTrue(line != null, "the server did not start: " + seen);
        seen.add(line);
        Matcher m = STARTED.matcher(line);
        started = m.find() ? m : null;
      }
      int grpcPort = Integer.parseInt(started.group(1));
      int adminPort = Integer.parseInt(started.group(2));
      assertEquals(200, Http.get(URI.create("http://127.0.0.1:" + adminPort + "/readyz")).statusCode());

      RateLimitDescriptor pro = descriptor("tier", "pro", "org", "acme");
      ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", grpcPort).usePlaintext().build();
      try {
        for (int i = 0; i < 7; i++) {
          assertEquals(Code.OK, RateLimitServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
              .shouldRateLimit(request("api", pro)).getOverallCode());
        }
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }

      process.toHandle().destroy(); // SIGTERM, leaving our end of its output open (Process.destroy closes it)
      assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the server exits after SIGTERM");
      reader.join(5_000);
      lines.drainTo(seen);
      String log = String.join("\n", seen);
      assertTrue(log.contains("shutting down: refusing new calls, draining in-flight calls"), log);
      assertTrue(log.contains("stopped"), log);
      assertTrue(Files.exists(data.resolveSibling("counters.dat.clean")), "the data file was closed cleanly");
    } finally {
      process.destroyForcibly();
    }

    ServerSettings settings = ServerSettings.loopback()
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(10_000, 48, 260, data)))
        .build();
    ManualClock now = new ManualClock(System.currentTimeMillis()); // the process counted on the system clock
    try (TestServer restarted = TestServer.start(settings, now)) {
      assertEquals("7", headers(restarted.call(request("api", withHits(descriptor("tier", "pro", "org", "acme"), 0))))
          .get("x-ratelimit-current"));
    }
  }
}
