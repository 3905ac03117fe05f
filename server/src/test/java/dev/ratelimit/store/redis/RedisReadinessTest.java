package dev.ratelimit.store.redis;

import dev.ratelimit.store.StoreSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.headers;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.RedisProcess;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Readiness tells the truth about Redis: a cluster of three masters without replicas that loses one goes
 * {@code cluster_state:fail} and every key fails; {@code /readyz}, gRPC health and {@code ratelimit_redis_healthy}
 * then say not ready (without any traffic: a background probe notices), and ready again once the node is back.
 */
@Tag("redis")
@Tag("redis-failover")
class RedisReadinessTest {
  private static final String POLICY = """
      domain: shared
      descriptors:
        - key: org
          rate_limit: {name: per_org, unit: minute, requests_per_unit: 50}
      """;

  @TempDir
  Path dir;
  private List<RedisProcess> nodes = List.of();
  private TestServer server;

  @AfterEach
  void stopAll() throws Exception {
    if (server != null) {
      server.close();
    }
    for (RedisProcess node : nodes) {
      node.close();
    }
  }

  @Test
  void aClusterThatCannotDecideIsNotReadyUntilItCanAgain() throws Exception {
    nodes = RedisProcess.startCluster(dir.resolve("cluster"), 3, false, 1000);
    Files.writeString(dir.resolve("policy.yaml"), POLICY);
    String uri = "redis-cluster://127.0.0.1:" + nodes.get(0).port() + ",127.0.0.1:" + nodes.get(1).port();
    server = TestServer.start(ServerSettings.loopback()
        .configPath(dir.resolve("policy.yaml"))
        .failureMode(FailureMode.ALLOW)
        .store(StoreSettings.redis(RedisSettings.defaults(uri).withTimeout(Duration.ofMillis(500))))
        .build(),
        new ManualClock(System.currentTimeMillis()));
    assertEquals(200, Http.get(server.admin("/readyz")).statusCode());
    assertEquals(ServingStatus.SERVING, health());
    assertEquals(Code.OK, decide().getOverallCode());

    nodes.get(2).killAndHoldPort();
    long killed = System.nanoTime();
    awaitTrue(() -> readyz() == 503, Duration.ofSeconds(15), "/readyz turns 503 once the cluster fails");
    System.out.printf("READINESS not ready %d ms after a master of a cluster without replicas was killed%n",
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killed));
    assertEquals(ServingStatus.NOT_SERVING, health(), "gRPC health follows readiness");
    assertEquals(0.0, metric("ratelimit_redis_healthy", Map.of()));
    RateLimitResponse failOpen = decide();
    assertEquals(Code.OK, failOpen.getOverallCode(), "the failure mode still answers");
    assertTrue(headers(failOpen).isEmpty(), "without counts");
    assertTrue(metric("ratelimit_redis_decisions_total", Map.of("answered_by", "failure_mode")) >= 1);

    nodes.get(2).restart(); // same port and cluster configuration: it rejoins with its slots (empty)
    awaitTrue(() -> readyz() == 200, Duration.ofSeconds(20), "/readyz turns 200 once the cluster is whole again");
    assertEquals(ServingStatus.SERVING, health());
    assertEquals(1.0, metric("ratelimit_redis_healthy", Map.of()));
    awaitTrue(() -> !headers(decide()).isEmpty(), Duration.ofSeconds(10), "Redis decides again");
    assertTrue(metric("ratelimit_redis_decisions_total", Map.of("answered_by", "redis")) >= 2);
  }

  private RateLimitResponse decide() {
    return server.call(request("shared", descriptor("org", "acme")));
  }

  private int readyz() {
    try {
      return Http.get(server.admin("/readyz")).statusCode();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private ServingStatus health() {
    return HealthGrpc.newBlockingStub(server.channel()).withDeadlineAfter(5, TimeUnit.SECONDS)
        .check(HealthCheckRequest.newBuilder().setService("").build()).getStatus();
  }

  private double metric(String name, Map<String, String> labels) throws Exception {
    Double value = Http.sample(server.registry().scrape(), name, labels);
    return value == null ? Double.NaN : value;
  }

  private static void awaitTrue(BooleanSupplier condition, Duration within, String what) throws Exception {
    long deadline = System.nanoTime() + within.toNanos();
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, what + " within " + within);
      Thread.sleep(50);
    }
  }
}
