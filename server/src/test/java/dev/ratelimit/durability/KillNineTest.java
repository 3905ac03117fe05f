package dev.ratelimit.durability;

import org.junit.jupiter.api.Tag;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.testing.ServerProcess;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety of persisted mode (issue 8): the server runs as its own process, clients drive one key, the process is
 * killed with SIGKILL mid-traffic, restarted on the same data file, and every acknowledged request must still be
 * counted.
 *
 * <p>Bound on the count after a kill: each client thread has at most one call outstanding, and a thread stops at its
 * first failed call. A call that failed because of the kill may or may not have been recorded (the server may have
 * applied it and died before replying), so {@code okBeforeKill <= current <= okBeforeKill + failedCalls}, with
 * {@code failedCalls <= THREADS}. Calls sent after the kill never reach a server; they are among the failed ones and
 * only loosen the upper bound.
 */
@Tag("process")
class KillNineTest {
  private static final int LIMIT = 4_000;
  private static final int THREADS = 4;
  private static final RateLimitDescriptor CLIENT = descriptor("client", "acme");

  @Test
  // Five server JVMs start in turn; on a 2-core machine shared with other builds one start has taken over 60 s.
  @Timeout(value = 400, unit = TimeUnit.SECONDS)
  void everyAcknowledgedHitSurvivesSigkillAndTheWindowStillRejects(@TempDir Path dir) throws Exception {
    Path policy = dir.resolve("policy.yaml");
    // An hour-long window: nothing ages out while the test runs.
    Files.writeString(policy, """
        domain: crash
        descriptors:
          - key: client
            rate_limit: {unit: hour, requests_per_unit: %d}
        """.formatted(LIMIT));
    Path data = dir.resolve("counters.dat");
    Path log = dir.resolve("server.log");
    String[] args = {"--config", policy.toString(), "--data-file", data.toString(), "--max-entries", "10000"};

    long counted = 0;
    for (int round = 1; round <= 2; round++) {
      Load load;
      try (ServerProcess server = ServerProcess.start(log, args)) {
        load = loadThenKill(server, 700);
        assertTrue(load.ok >= 700, "round " + round + ": only " + load.ok + " OKs before the kill\n" + server.output());
        assertEquals(0, load.overLimit, "nothing may be over the limit yet");
      }
      try (ServerProcess server = ServerProcess.start(log, args)) {
        ManagedChannel channel = channel(server);
        try {
          long current = current(channel);
          long low = counted + load.ok;
          long high = low + load.failed;
          assertTrue(current >= low && current <= high, "round " + round + ": counter " + current
              + " after the kill, expected " + low + ".." + high + " (" + load + ")\n" + server.output());
          counted = current;
          if (round == 2) {
            long room = LIMIT - counted;
            RateLimitServiceGrpc.RateLimitServiceBlockingStub stub = stub(channel);
            assertEquals(Code.OVER_LIMIT, stub.shouldRateLimit(request("crash", withHits(CLIENT, room + 1)))
                .getOverallCode(), "one more than the room left is rejected");
            assertEquals(Code.OK, stub.shouldRateLimit(request("crash", withHits(CLIENT, room))).getOverallCode(),
                "exactly the room left is admitted");
            assertEquals(Code.OVER_LIMIT, stub.shouldRateLimit(request("crash", CLIENT)).getOverallCode(),
                "the window is full");
          }
        } finally {
          channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        String output = server.output();
        assertTrue(output.contains("was not closed cleanly; recovering"), output);
        assertTrue(output.contains("recovered " + data), output);
        if (round == 2) {
          int exit = server.stop();
          assertTrue(exit == 0 || exit == 143, "exit code " + exit + "\n" + server.output());
        }
      }
    }
    assertTrue(Files.exists(data.resolveSibling(data.getFileName() + ".clean")),
        "a graceful stop marks the data file clean");
    try (ServerProcess server = ServerProcess.start(log, args)) {
      ManagedChannel channel = channel(server);
      try {
        assertEquals(LIMIT, current(channel), "after a clean stop the full window is still there");
      } finally {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /** Drives {@code THREADS} clients at the key and SIGKILLs the server once {@code okTarget} calls were admitted. */
  private static Load loadThenKill(ServerProcess server, int okTarget) throws Exception {
    ManagedChannel channel = channel(server);
    try {
      current(channel); // waits until the server is up
      AtomicInteger ok = new AtomicInteger();
      AtomicInteger overLimit = new AtomicInteger();
      AtomicInteger failed = new AtomicInteger();
      AtomicBoolean stop = new AtomicBoolean();
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        Thread thread = new Thread(() -> {
          RateLimitServiceGrpc.RateLimitServiceBlockingStub stub = RateLimitServiceGrpc.newBlockingStub(channel);
          while (!stop.get()) {
            try {
              RateLimitResponse response = stub.withDeadlineAfter(5, TimeUnit.SECONDS)
                  .shouldRateLimit(request("crash", CLIENT));
              (response.getOverallCode() == Code.OK ? ok : overLimit).incrementAndGet();
            } catch (StatusRuntimeException e) {
              failed.incrementAndGet();
              return;
            }
          }
        }, "kill9-load-" + t);
        thread.start();
        threads.add(thread);
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(40);
      while (ok.get() < okTarget && System.nanoTime() < deadline) {
        Thread.sleep(2);
      }
      server.kill(); // mid-traffic: the threads are still sending
      for (Thread thread : threads) {
        thread.join(TimeUnit.SECONDS.toMillis(20));
      }
      stop.set(true);
      return new Load(ok.get(), overLimit.get(), failed.get());
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** Reads the counter without changing it (descriptor-level hits_addend 0), waiting for the server to be up. */
  private static long current(ManagedChannel channel) {
    RateLimitResponse response = RateLimitServiceGrpc.newBlockingStub(channel).withWaitForReady()
        .withDeadlineAfter(60, TimeUnit.SECONDS)
        .shouldRateLimit(request("crash", withHits(CLIENT, 0)));
    String current = headers(response).get("x-ratelimit-current");
    return current == null ? 0 : Long.parseLong(current);
  }

  private static ManagedChannel channel(ServerProcess server) {
    return NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
  }

  private static RateLimitServiceGrpc.RateLimitServiceBlockingStub stub(ManagedChannel channel) {
    return RateLimitServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private record Load(int ok, int overLimit, int failed) {
  }
}
