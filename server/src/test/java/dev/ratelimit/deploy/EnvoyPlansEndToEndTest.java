package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import dev.ratelimit.store.StoreSettings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.RateLimit.Unit;
import com.google.common.util.concurrent.ListenableFuture;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import java.time.Duration;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The whole path without an Envoy binary: sample HTTP requests go through the route actions of
 * {@code envoy-config/envoy.yaml} (interpreted by {@link RouteDescriptors}), and the descriptors
 * they produce go over gRPC to a real server on a loopback port that loads
 * {@code envoy-config/ratelimit/api.yaml}. Decisions and headers are those of the documented plans.
 */
@Tag("deploy")
class EnvoyPlansEndToEndTest {
  private static final String BLOCKED_IP = "198.51.100.66";

  private static RouteDescriptors routes;
  private static String domain;

  private final ManualClock clock = ManualClock.atRoundTime();
  private TestServer server;

  @BeforeAll
  static void readEnvoyConfig() throws Exception {
    var bootstrap = EnvoyBootstrapTest.bootstrap();
    routes = RouteDescriptors.of(bootstrap);
    domain = EnvoyBootstrapTest.rateLimitFilter(bootstrap).getDomain();
  }

  @BeforeEach
  void start() throws Exception {
    server = TestServer.start(ServerSettings.loopback()
        .configPath(Repo.file("envoy-config/ratelimit/api.yaml"))
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(50_000, 48, 260, null)))
        .build(), clock);
  }

  @AfterEach
  void stop() throws Exception {
    server.close();
  }

  /** What the rate-limit filter would send for this request, and the server's answer. */
  private RateLimitResponse send(SampleRequest request) {
    return server.call(request(request));
  }

  private static RateLimitRequest request(SampleRequest request) {
    List<RateLimitDescriptor> descriptors = routes.descriptors(request);
    assertFalse(descriptors.isEmpty(), "no descriptors for " + request);
    return RateLimitRequest.newBuilder().setDomain(domain).addAllDescriptors(descriptors).build();
  }

  private static SampleRequest pro(String path, int i) {
    // A busy Pro organisation: five API keys used from ten client addresses, none of them listed by a
    // firewall rule, so the plan's 9,000 is the only limit they reach.
    return SampleRequest.keyed(path, "acme-key-" + (i % 5), "acme", "pro", "203.0.113." + (i % 10 + 1));
  }

  @Test
  void proOrganisationGets9000QuotesPerMinuteAndThe9001stIsOverLimit() throws Exception {
    // The first 8,999 in batches of concurrent calls (order does not matter: all are admitted),
    // then the 9,000th alone so that its headers are those of the last admitted request.
    var async = RateLimitServiceGrpc.newFutureStub(server.channel());
    for (int batch = 0; batch < 8999; batch += 500) {
      List<ListenableFuture<RateLimitResponse>> calls = new ArrayList<>();
      for (int i = batch; i < Math.min(batch + 500, 8999); i++) {
        calls.add(async.shouldRateLimit(request(pro("/swap/v1/quote", i))));
      }
      for (int i = 0; i < calls.size(); i++) {
        assertEquals(Code.OK, calls.get(i).get(10, TimeUnit.SECONDS).getOverallCode(), "request " + (batch + i + 1));
      }
    }
    RateLimitResponse last = send(pro("/swap/v1/quote", 8999));
    assertEquals(Code.OK, last.getOverallCode(), "request 9000");
    assertEquals("0", TestServer.headers(last).get("x-ratelimit-remaining"));
    assertEquals("9000", TestServer.headers(last).get("x-ratelimit-current"));

    RateLimitResponse over = send(pro("/swap/v1/quote", 9000));
    assertEquals(Code.OVER_LIMIT, over.getOverallCode());
    DescriptorStatus plan = over.getStatuses(0);   // [tier=pro, org=acme]
    assertEquals(Code.OVER_LIMIT, plan.getCode());
    assertLimit(plan, "pro", 9000, Unit.MINUTE);
    over.getStatusesList().subList(1, over.getStatusesCount())
        .forEach(firewall -> assertEquals(Code.OK, firewall.getCode()));
    Map<String, String> headers = TestServer.headers(over);
    assertEquals("0", headers.get("x-ratelimit-remaining"));
    long nowSeconds = clock.millis() / 1000;
    long reset = Long.parseLong(headers.get("x-ratelimit-reset"));
    assertTrue(reset > nowSeconds && reset <= nowSeconds + 61, "reset " + reset + " now " + nowSeconds);

    clock.advance(Duration.ofSeconds(61));
    assertEquals(Code.OK, send(pro("/swap/v1/quote", 9001)).getOverallCode(), "the window has passed");
  }

  @Test
  void executeHasItsOwnPerSecondBucketAndDoesNotConsumeThePlan() {
    for (int i = 0; i < 100; i++) {
      assertEquals(Code.OK, send(pro("/swap/v2/execute", i)).getOverallCode(), "execute " + (i + 1));
    }
    RateLimitResponse over = send(pro("/swap/v2/execute", 100));
    assertEquals(Code.OVER_LIMIT, over.getOverallCode());
    assertLimit(over.getStatuses(0), "execute_paid", 100, Unit.SECOND);

    RateLimitResponse quote = send(pro("/swap/v1/quote", 0));
    assertEquals(Code.OK, quote.getOverallCode(), "the plan bucket is untouched by execute traffic");
    assertLimit(quote.getStatuses(0), "pro", 9000, Unit.MINUTE);
    assertEquals(8999, quote.getStatuses(0).getLimitRemaining());

    RateLimitResponse submit = send(pro("/tx/v1/submit", 0));
    assertEquals(Code.OK, submit.getOverallCode(), "submit is a bucket of its own too");
    assertLimit(submit.getStatuses(0), "submit_paid", 100, Unit.SECOND);

    clock.advance(Duration.ofSeconds(2));
    assertEquals(Code.OK, send(pro("/swap/v2/execute", 101)).getOverallCode());
  }

  @Test
  void keylessClientsAreLimitedPerClientAddress() {
    SampleRequest first = SampleRequest.keyless("/swap/v1/price", "203.0.113.50");
    for (int i = 0; i < 30; i++) {
      assertEquals(Code.OK, send(first).getOverallCode(), "keyless " + (i + 1));
    }
    RateLimitResponse over = send(first);
    assertEquals(Code.OVER_LIMIT, over.getOverallCode());
    assertLimit(over.getStatuses(0), "keyless", 30, Unit.MINUTE);
    assertEquals("0", TestServer.headers(over).get("x-ratelimit-remaining"));

    RateLimitResponse other = send(SampleRequest.keyless("/swap/v1/price", "203.0.113.51"));
    assertEquals(Code.OK, other.getOverallCode(), "another address has its own counter");
    assertEquals("29", TestServer.headers(other).get("x-ratelimit-remaining"));
  }

  @Test
  void blockedAddressGets429AfterTenAlthoughItsPlanAllowsMore() {
    SampleRequest fromBlocked = SampleRequest.keyed("/swap/v1/quote", "k", "acme", "pro", BLOCKED_IP);
    for (int i = 0; i < 10; i++) {
      assertEquals(Code.OK, send(fromBlocked).getOverallCode(), "request " + (i + 1));
    }
    RateLimitResponse over = send(fromBlocked);
    assertEquals(Code.OVER_LIMIT, over.getOverallCode());
    assertEquals(Code.OK, over.getStatuses(0).getCode(), "the Pro plan itself is far from its limit");
    assertLimit(over.getStatuses(0), "pro", 9000, Unit.MINUTE);
    DescriptorStatus firewall = over.getStatuses(1);   // [firewall=per_ip, remote_address=198.51.100.66]
    assertEquals(Code.OVER_LIMIT, firewall.getCode());
    assertLimit(firewall, "firewall_blocked_ip", 10, Unit.MINUTE);
    assertEquals(Map.of("x-ratelimit-remaining", "0", "x-ratelimit-current", "10"),
        Map.of("x-ratelimit-remaining", TestServer.headers(over).get("x-ratelimit-remaining"),
            "x-ratelimit-current", TestServer.headers(over).get("x-ratelimit-current")));

    SampleRequest elsewhere = SampleRequest.keyed("/swap/v1/quote", "k", "acme", "pro", "203.0.113.60");
    assertEquals(Code.OK, send(elsewhere).getOverallCode(), "the same key from another address passes");
  }

  private static void assertLimit(DescriptorStatus status, String name, int perUnit, Unit unit) {
    assertEquals(name, status.getCurrentLimit().getName());
    assertEquals(perUnit, status.getCurrentLimit().getRequestsPerUnit());
    assertEquals(unit, status.getCurrentLimit().getUnit());
  }
}
