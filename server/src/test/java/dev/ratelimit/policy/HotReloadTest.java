package dev.ratelimit.policy;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hot reload while a client keeps sending: the watcher, the periodic check and {@code POST /reload} apply a valid
 * change atomically (no call fails, unchanged rules keep their counts, the changed rule takes its new limit) and
 * refuse an invalid one.
 */
class HotReloadTest {
  private static final RateLimitDescriptor STEADY = descriptor("plan", "steady");
  private static final RateLimitDescriptor CHANGING = descriptor("plan", "changing");
  /** Lowering a limit keeps its counters (so does crossing a counter width: see PolicyDiffTest). */
  private static final long BEFORE = 65_000;
  private static final long AFTER = 300;

  private final ManualClock clock = ManualClock.atRoundTime(); // frozen: nothing ages out during a test

  @TempDir
  Path dir;

  /**
   * The policy; every call counts in the steady rule even when the changing rule rejects it (envoyproxy/ratelimit's
   * behaviour, {@code rejected_requests: count_within_limit}), so the steady count proves no call was lost in a swap.
   */
  private static String policy(long changingLimit) {
    return """
        domain: ops
        descriptors:
          - key: plan
            value: steady
            rate_limit: {unit: hour, requests_per_unit: 60000}
          - key: plan
            value: changing
            rate_limit: {unit: hour, requests_per_unit: %d}
        rejected_requests: count_within_limit
        """.formatted(changingLimit);
  }

  private TestServer start(Path config, ServerSettings.Builder operations) throws Exception {
    return TestServer.start(operations.configPath(config).build(), clock);
  }

  private static ServerSettings.Builder watching(Duration checkInterval) {
    return ServerSettings.loopback().configCheckInterval(checkInterval);
  }

  private static ServerSettings.Builder notWatching() {
    return ServerSettings.loopback().watchConfig(false);
  }

  /** Sends {steady, changing} in a loop from its own thread and records what it saw. */
  private static final class Sender implements Runnable {
    final TestServer server;
    final AtomicLong sent = new AtomicLong();
    final AtomicLong okUnderOldLimit = new AtomicLong();
    final AtomicLong overUnderNewLimit = new AtomicLong();
    final List<Long> limitsSeen = new CopyOnWriteArrayList<>();
    final List<Throwable> errors = new CopyOnWriteArrayList<>();
    final Thread thread = new Thread(this, "sender");
    volatile boolean running = true;

    Sender(TestServer server) {
      this.server = server;
      thread.start();
    }

    @Override
    public void run() {
      while (running) {
        try {
          RateLimitResponse r = server.call(request("ops", STEADY, CHANGING));
          sent.incrementAndGet();
          if (r.getStatuses(0).getCode() != Code.OK) {
            throw new AssertionError("the steady rule never reaches its limit: " + r);
          }
          long limit = r.getStatuses(1).getCurrentLimit().getRequestsPerUnit();
          if (limitsSeen.isEmpty() || limitsSeen.get(limitsSeen.size() - 1) != limit) {
            limitsSeen.add(limit);
          }
          Code code = r.getStatuses(1).getCode();
          if (limit == BEFORE && code == Code.OK) {
            okUnderOldLimit.incrementAndGet();
          } else if (limit == AFTER && code == Code.OVER_LIMIT) {
            overUnderNewLimit.incrementAndGet();
          } else {
            throw new AssertionError("unexpected status of the changing rule: " + r.getStatuses(1));
          }
        } catch (Throwable t) {
          errors.add(t);
          return;
        }
      }
    }

    void awaitSent(long n) {
      long target = sent.get() + n;
      await(() -> sent.get() >= target || !errors.isEmpty(), "the sender to send " + n + " more");
    }

    void stop() throws InterruptedException {
      running = false;
      thread.join(10_000);
      assertTrue(!thread.isAlive(), "the sender stopped");
      assertEquals(List.of(), errors, "no call failed");
    }
  }

  private static void await(BooleanSupplier condition, String what) {
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for " + what);
      }
      Thread.onSpinWait();
      try {
        Thread.sleep(5); // polling real I/O (file watcher, another thread), not standing in for a clock
      } catch (InterruptedException e) {
        throw new AssertionError(e);
      }
    }
  }

  private static long current(TestServer server, RateLimitDescriptor d) {
    return Long.parseLong(headers(server.call(request("ops", withHits(d, 0)))).get("x-ratelimit-current"));
  }

  private static double reloads(TestServer server, String result) {
    return server.registry().get("ratelimit_config_reloads").tag("result", result).counter().count();
  }

  /** Everything the sender saw is consistent with one atomic swap that kept both rules' counters. */
  private static void assertSwappedOnceKeepingCounters(TestServer server, Sender sender) {
    assertEquals(List.of(BEFORE, AFTER), sender.limitsSeen, "old limit, then the new one, never back");
    assertEquals(sender.sent.get(), sender.okUnderOldLimit.get() + sender.overUnderNewLimit.get());
    assertTrue(sender.okUnderOldLimit.get() > AFTER, "enough hits before the reload to be over the new limit");
    assertEquals(sender.sent.get(), current(server, STEADY), "the unchanged rule counted every call");
    assertEquals(sender.okUnderOldLimit.get(), current(server, CHANGING),
        "the changed rule kept its count and records no rejected call");
  }

  @Test
  void theWatcherAppliesAnEditedFileWhileAClientKeepsSending() throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy(BEFORE));
    try (TestServer server = start(file, watching(Duration.ofHours(1)))) { // an hour: only a file event can do it
      Sender sender = new Sender(server);
      sender.awaitSent(400);
      Files.writeString(file, policy(AFTER));
      await(() -> sender.limitsSeen.contains(AFTER) || !sender.errors.isEmpty(), "the new limit");
      sender.awaitSent(50);
      sender.stop();

      assertSwappedOnceKeepingCounters(server, sender);
      assertEquals(1.0, reloads(server, "applied"));
      assertEquals(0.0, reloads(server, "rejected"));
      assertTrue(Http.get(server.admin("/config")).body().contains("ops/plan=changing 300 per 1h"));
    }
  }

  @Test
  void postReloadAppliesAChangeAndRefusesAnInvalidOneNamingFileLineAndField() throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy(BEFORE));
    try (TestServer server = start(file, notWatching())) {
      Sender sender = new Sender(server);
      sender.awaitSent(400);
      Files.writeString(file, policy(AFTER));
      assertEquals(List.of(BEFORE), sender.limitsSeen, "not watching: nothing changes until asked");

      HttpResponse<String> applied = Http.post(server.admin("/reload"));
      assertEquals(200, applied.statusCode(), applied.body());
      assertEquals("applied: changed [ops/plan=changing (requestsPerUnit: 65000 -> 300; counters kept)]\n",
          applied.body());
      sender.awaitSent(50);

      Files.writeString(file, policy(AFTER).replace("requests_per_unit: 300", "requests_per_unit: lots"));
      HttpResponse<String> refused = Http.post(server.admin("/reload"));
      assertEquals(400, refused.statusCode());
      assertTrue(refused.body().startsWith("rejected, the previous policy keeps running: " + file + ":8:"),
          refused.body());
      assertTrue(refused.body().contains("requests_per_unit"), refused.body());
      sender.awaitSent(50);
      sender.stop();

      assertSwappedOnceKeepingCounters(server, sender);
      assertEquals(1.0, reloads(server, "applied"));
      assertEquals(1.0, reloads(server, "rejected"));
    }
  }

  @Test
  void aBrokenFileIsRefusedOnceAndTheRunningPolicyStays() throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy(BEFORE));
    try (TestServer server = start(file, watching(Duration.ofHours(1)))) {
      Files.writeString(file, "domain: ops\ndescriptors:\n  - key: plan\n    valeu: typo\n");
      await(() -> reloads(server, "rejected") == 1.0, "the watcher to refuse the broken file");
      PolicyReloader.Result again = server.server().reloader().reloadIfChanged("periodic check");
      assertEquals(PolicyReloader.Status.REJECTED, again.status());
      assertEquals(1.0, reloads(server, "rejected"), "the same broken text is reported once");
      assertEquals(BEFORE, server.call(request("ops", CHANGING)).getStatuses(0).getCurrentLimit()
          .getRequestsPerUnit(), "the previous policy keeps running");

      Files.writeString(file, policy(AFTER));
      await(() -> reloads(server, "applied") == 1.0, "the watcher to apply the fixed file");
      assertEquals(AFTER, server.call(request("ops", CHANGING)).getStatuses(0).getCurrentLimit()
          .getRequestsPerUnit());
    }
  }

  @Test
  void thePeriodicCheckAppliesAChangeNoEventReported() throws Exception {
    Path file = dir.resolve("policy.yaml");
    Files.writeString(file, policy(BEFORE));
    try (TestServer server = start(file, notWatching())) {
      PolicyReloader reloader = server.server().reloader();
      assertEquals(PolicyReloader.Status.UNCHANGED, reloader.reloadIfChanged("periodic check").status());
      Files.writeString(file, policy(AFTER));
      PolicyReloader.Result result = reloader.reloadIfChanged("periodic check");
      assertEquals(PolicyReloader.Status.APPLIED, result.status());
      assertEquals(List.of("requestsPerUnit: 65000 -> 300"), result.diff().changed().get(0).fields());
      assertEquals(PolicyReloader.Status.UNCHANGED, reloader.reloadIfChanged("periodic check").status());
      assertEquals(1.0, reloads(server, "applied"));
    }
  }

  /** Kubernetes updates a ConfigMap volume by pointing the {@code ..data} symlink at a new directory. */
  @Test
  void aConfigMapSymlinkSwapIsApplied() throws Exception {
    Path v1 = Files.createDirectory(dir.resolve("..2026_01_01_v1"));
    Files.writeString(v1.resolve("policy.yaml"), policy(BEFORE));
    Files.createSymbolicLink(dir.resolve("..data"), v1.getFileName());
    Files.createSymbolicLink(dir.resolve("policy.yaml"), Path.of("..data", "policy.yaml"));
    try (TestServer server = start(dir, watching(Duration.ofMillis(500)))) {
      Sender sender = new Sender(server);
      sender.awaitSent(400);
      Path v2 = Files.createDirectory(dir.resolve("..2026_01_01_v2"));
      Files.writeString(v2.resolve("policy.yaml"), policy(AFTER));
      Path tmp = Files.createSymbolicLink(dir.resolve("..data_tmp"), v2.getFileName());
      Files.move(tmp, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      await(() -> sender.limitsSeen.contains(AFTER) || !sender.errors.isEmpty(), "the swapped policy");
      sender.awaitSent(50);
      sender.stop();
      assertSwappedOnceKeepingCounters(server, sender);
      assertEquals(Map.of(dir.resolve("policy.yaml").toString(), policy(AFTER)),
          server.server().reloader().current().sources());
    }
  }
}
