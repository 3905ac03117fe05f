package dev.ratelimit.store.redis;

import org.junit.jupiter.api.Tag;
import dev.ratelimit.store.StoreSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import dev.ratelimit.proto.admin.v1.RecordVolumeRequest;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.RedisProcess;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Whole servers (gRPC, engine, Redis store on Redis's clock) sharing one real {@code redis-server}: replicas enforce
 * one limit together, and a Redis outage is answered by the failure mode and recovered from automatically.
 */
@Tag("redis")
class RedisReplicasTest {
  private static final String POLICY = """
      domain: shared
      descriptors:
        - key: org
          rate_limit: {name: per_org, unit: minute, requests_per_unit: 50}
      """;

  @TempDir
  Path dir;
  private RedisProcess redis;
  private final List<TestServer> servers = new ArrayList<>();
  private final ManualClock clock = new ManualClock(System.currentTimeMillis());

  @BeforeEach
  void startRedis() throws Exception {
    redis = RedisProcess.start(dir.resolve("redis"));
    Files.writeString(dir.resolve("policy.yaml"), POLICY);
  }

  @AfterEach
  void stopAll() throws Exception {
    for (TestServer server : servers) {
      server.close();
    }
    if (redis != null) { // null when skipped: no redis-server
      redis.close();
    }
  }

  private TestServer server(FailureMode failureMode, Duration redisTimeout) throws Exception {
    return server(ServerSettings.loopback()
        .configPath(dir.resolve("policy.yaml"))
        .failureMode(failureMode)
        .store(StoreSettings.redis(RedisSettings.defaults(redis.uri()).withTimeout(redisTimeout)))
        .build(), clock);
  }

  private TestServer server(ServerSettings settings, ManualClock serverClock) throws Exception {
    TestServer server = TestServer.start(settings, serverClock);
    servers.add(server);
    return server;
  }

  private static RateLimitRequest org(String name) {
    return request("shared", descriptor("org", name));
  }

  @Test
  void twoServersOnOneRedisTogetherAdmitExactlyTheLimit() throws Exception {
    TestServer a = server(FailureMode.DENY, Duration.ofSeconds(5));
    TestServer b = server(FailureMode.DENY, Duration.ofSeconds(5));
    AtomicInteger admitted = new AtomicInteger();
    AtomicInteger rejected = new AtomicInteger();
    AtomicReference<RateLimitResponse> lastRejection = new AtomicReference<>();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<?>> clients = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        TestServer target = t % 2 == 0 ? a : b;
        clients.add(pool.submit(() -> {
          for (int i = 0; i < 25; i++) {
            RateLimitResponse r = target.call(org("acme"));
            if (r.getOverallCode() == Code.OK) {
              admitted.incrementAndGet();
            } else {
              rejected.incrementAndGet();
              lastRejection.set(r);
            }
          }
          return null;
        }));
      }
      for (Future<?> c : clients) {
        c.get(60, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
    }
    assertEquals(50, admitted.get(), "200 requests through two replicas, one limit of 50");
    assertEquals(150, rejected.get());
    RateLimitResponse over = lastRejection.get();
    assertEquals("0", headers(over).get("x-ratelimit-remaining"));
    assertEquals("50", headers(over).get("x-ratelimit-current"));
    assertEquals(Code.OVER_LIMIT, b.call(org("acme")).getOverallCode());
    assertEquals(Code.OK, a.call(org("globex")).getOverallCode(), "another org has its own counter");
    assertEquals(0.0, storeFailures(a) + storeFailures(b));
  }

  @Test
  void volumeRecordedThroughOneReplicaRaisesTheDynamicLimitOnBoth() throws Exception {
    // Both replicas on one (test-driven) clock, passed to Redis, so the 10-minute recomputation can be reached.
    ManualClock shared = ManualClock.atRoundTime();
    ServerSettings settings = ServerSettings.loopback()
        .configPath(Path.of("../envoy-config/ratelimit/examples/dynamic-tier.yaml"))
        .store(StoreSettings.redis(RedisSettings.defaults(redis.uri()).withTimeout(Duration.ofSeconds(5))
            .withTimeSource(TimeSource.CALLER)))
        .build();
    TestServer a = server(settings, shared);
    TestServer b = server(settings, shared);
    RateLimitAdminGrpc.newBlockingStub(a.adminChannel()).withDeadlineAfter(10, TimeUnit.SECONDS)
        .recordVolume(RecordVolumeRequest.newBuilder().setOrg("acme").setUsd(1_000_000).build());
    shared.advance(Duration.ofMinutes(10));
    RateLimitRequest dynamic = request("api", descriptor("tier", "dynamic", "org", "acme"));
    int admitted = 0;
    for (int i = 0; i < 400; i++) {
      if ((i % 2 == 0 ? a : b).call(dynamic).getOverallCode() == Code.OK) {
        admitted++;
      }
    }
    assertEquals(165, admitted, "base 50 + 115 for $1M, one ledger and one counter for both replicas");
    RateLimitResponse over = b.call(dynamic);
    assertEquals(165, over.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
  }

  @Test
  void killingRedisMidTrafficDeniesPerTheFailureModeAndDecisionsAreExactAgainOnceItReturns() throws Exception {
    outage(FailureMode.DENY, Code.OVER_LIMIT);
  }

  @Test
  void withFailureModeAllowAnOutageAdmits() throws Exception {
    outage(FailureMode.ALLOW, Code.OK);
  }

  private void outage(FailureMode failureMode, Code duringOutage) throws Exception {
    TestServer server = server(failureMode, Duration.ofMillis(250));
    for (int i = 0; i < 3; i++) {
      assertEquals(Code.OK, server.call(org("acme")).getOverallCode());
    }
    // Background traffic across the whole outage: every call must be answered, none may error.
    AtomicBoolean stop = new AtomicBoolean();
    AtomicInteger sent = new AtomicInteger();
    AtomicInteger answered = new AtomicInteger();
    // Decided by the failure mode: no counts, so no headers (every decision with a count reports them here).
    AtomicInteger byFailureMode = new AtomicInteger();
    AtomicReference<Throwable> error = new AtomicReference<>();
    Thread traffic = new Thread(() -> {
      for (int i = 0; !stop.get(); i++) {
        try {
          sent.incrementAndGet();
          RateLimitResponse r = server.call(org("traffic-" + (i % 7)));
          answered.incrementAndGet();
          if (headers(r).isEmpty()) {
            assertEquals(duringOutage, r.getOverallCode(), "a call without counts is answered by the failure mode");
            byFailureMode.incrementAndGet();
          }
        } catch (Throwable t) {
          error.compareAndSet(null, t);
        }
      }
    });
    traffic.start();
    try {
      Thread.sleep(200);
      redis.kill();
      long start = System.nanoTime();
      for (int i = 0; i < 5; i++) {
        RateLimitResponse r = server.call(org("acme"));
        assertEquals(duringOutage, r.getOverallCode(), "the failure mode answers while Redis is down");
        assertTrue(headers(r).isEmpty(), "no counts to report");
      }
      // Generous on purpose (the machine may be busy): 5 calls failing on their 250 ms timeout take about 1.25 s; a
      // store that waited for Redis to come back would not answer until the restart below.
      assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "answered promptly, not after retries");
      assertTrue(storeFailures(server) >= 5, "each failed descriptor is counted");
      redis.restart(); // same port, empty: nothing was persisted
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
      boolean recovered = false;
      for (int probe = 0; !recovered && System.nanoTime() < deadline; probe++) {
        RateLimitResponse r = server.call(org("probe-" + probe));
        recovered = r.getOverallCode() == Code.OK && !headers(r).isEmpty();
        if (headers(r).isEmpty()) {
          byFailureMode.incrementAndGet();
        }
        if (!recovered) {
          Thread.sleep(50);
        }
      }
      assertTrue(recovered, "the store reconnects by itself");
    } finally {
      stop.set(true);
      traffic.join(10_000);
    }
    assertEquals(null, error.get(), "the server answered every call during the outage");
    assertEquals(sent.get(), answered.get(), "every call of the background traffic was answered");
    assertEquals(5 + byFailureMode.get(), allStoreFailures(server),
        "each decision the failure mode took (5 for acme, the traffic's and the probes') is one store failure");
    for (int i = 1; i <= 50; i++) {
      RateLimitResponse r = server.call(org("after"));
      assertEquals(Code.OK, r.getOverallCode(), "request " + i);
      assertEquals(Integer.toString(50 - i), headers(r).get("x-ratelimit-remaining"));
    }
    RateLimitResponse over = server.call(org("after"));
    assertEquals(Code.OVER_LIMIT, over.getOverallCode(), "exact again: the 51st is rejected");
    assertEquals("50", headers(over).get("x-ratelimit-current"));
  }

  private static double storeFailures(TestServer server) {
    return server.registry().get("ratelimit_store_failures").tag("kind", "unavailable").counter().count();
  }

  private static double allStoreFailures(TestServer server) {
    return server.registry().get("ratelimit_store_failures").counters().stream().mapToDouble(c -> c.count()).sum();
  }
}
