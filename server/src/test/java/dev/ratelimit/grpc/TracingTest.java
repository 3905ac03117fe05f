package dev.ratelimit.grpc;

import dev.ratelimit.bootstrap.ServerSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static dev.ratelimit.testing.TestServer.withHits;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.grpc.OtlpReceiver.SpanData;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StateUpdate;
import dev.ratelimit.store.StoreException;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Metadata;
import io.grpc.stub.MetadataUtils;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tracing end to end: a real server exports its spans over OTLP/HTTP to a receiver on a loopback port, each a child of
 * the {@code traceparent} the client (as Envoy would) sends; and with default settings no SDK or exporter exists.
 */
class TracingTest {
  private static final String ENVOY_SPAN = "00f067aa0ba902b7";
  /** A descriptor value that must never leave the server in a span. */
  private static final String ORG_VALUE = "org-value-7f3a";

  @TempDir
  Path dir;

  @Test
  void spansOfShouldRateLimitAndCheckAreChildrenOfEnvoysContextAndReachTheCollector() throws Exception {
    Path keys = dir.resolve("keys.yaml");
    Files.copy(Path.of("..", "envoy-config", "api-keys.example.yaml"), keys);
    ServerSettings defaults = ServerSettings.loopback().build();
    try (OtlpReceiver collector = new OtlpReceiver()) {
      // Ratio 0: a call without a trace context starts no trace; Envoy's sampled flag decides for the others.
      TracingSettings tracing = TracingSettings.resolve(collector.baseUrl().toString(), "ratelimit-test", 0.0,
          Map.of("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-token=s3cret%20token",
              "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"));
      FailingStore failing = new FailingStore();
      try (TestServer server = TestServer.start(defaults.toBuilder()
              .apiKeys(keys)
              .tracing(tracing)
              .build(),
          ManualClock.atRoundTime(), store -> failing.wrap(store))) {
        assertTrue(server.server().tracing());
        RateLimitRequest overLimit = request("api", withHits(descriptor("tier", "free", "org", ORG_VALUE), 1000));
        assertEquals(Code.OVER_LIMIT, call(server, traceparent(traceId(1), "01"), overLimit).getOverallCode());
        failing.failing = true;
        assertEquals(Code.OK, call(server, traceparent(traceId(2), "01"),
            request("api", descriptor("tier", "free", "org", ORG_VALUE), descriptor("tier", "pro", "org", "o2")))
            .getOverallCode(), "failure mode allow");
        failing.failing = false;
        call(server, traceparent(traceId(3), "00"), overLimit); // Envoy did not sample this one
        call(server, new Metadata(), overLimit); // no trace context, ratio 0
        assertEquals(0, check(server, traceparent(traceId(4), "01"), "demo-pro-key").getStatus().getCode());
        assertEquals(16, check(server, traceparent(traceId(5), "01"), "not-a-key").getStatus().getCode());
        assertEquals(0, check(server, traceparent(traceId(6), "01"), null).getStatus().getCode());
      } // closing the server exports the queued spans

      Map<String, SpanData> byTrace = collector.spans().stream()
          .collect(Collectors.toMap(SpanData::traceId, Function.identity()));
      assertEquals(List.of(traceId(1), traceId(2), traceId(4), traceId(5), traceId(6)),
          byTrace.keySet().stream().sorted().toList(), "only the calls Envoy sampled");

      SpanData rls = byTrace.get(traceId(1));
      assertEquals("envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit", rls.name());
      assertEquals(ENVOY_SPAN, rls.parentSpanId(), "a child of Envoy's span");
      assertEquals(16, rls.spanId().length());
      assertEquals(2, rls.kind(), "SPAN_KIND_SERVER");
      assertEquals(0, rls.statusCode(), "an over-limit answer is no error");
      assertEquals(Map.of("rpc.system", "grpc", "rpc.service", "envoy.service.ratelimit.v3.RateLimitService",
          "rpc.method", "ShouldRateLimit", "rpc.grpc.status_code", "0", "ratelimit.domain", "api",
          "ratelimit.descriptor_count", "1", "ratelimit.overall_code", "OVER_LIMIT", "ratelimit.store_failures", "0"),
          rls.attributes());
      assertEquals("ratelimit-test", rls.resource().get("service.name"));
      assertEquals("test", rls.resource().get("deployment.environment"));

      SpanData failed = byTrace.get(traceId(2));
      assertEquals("2", failed.attributes().get("ratelimit.store_failures"), "both descriptors failed in the store");
      assertEquals("2", failed.attributes().get("ratelimit.descriptor_count"));
      assertEquals("OK", failed.attributes().get("ratelimit.overall_code"));

      SpanData valid = byTrace.get(traceId(4));
      assertEquals("envoy.service.auth.v3.Authorization/Check", valid.name());
      assertEquals(ENVOY_SPAN, valid.parentSpanId());
      assertEquals("valid", valid.attributes().get("ratelimit.auth.result"));
      assertEquals("unknown", byTrace.get(traceId(5)).attributes().get("ratelimit.auth.result"));
      assertEquals("keyless", byTrace.get(traceId(6)).attributes().get("ratelimit.auth.result"));

      for (OtlpReceiver.Export export : collector.exports()) {
        assertEquals(List.of("s3cret token"), export.headers().get("X-collector-token"), "OTEL_EXPORTER_OTLP_HEADERS");
        String body = new String(export.body(), StandardCharsets.ISO_8859_1);
        assertFalse(body.contains(ORG_VALUE), "no descriptor value is exported");
        assertFalse(body.contains("demo-pro-key") || body.contains("not-a-key"), "no API key is exported");
      }
    }
  }

  @Test
  void offByDefaultNoSdkNoExporterNoSpan() throws Exception {
    assertFalse(TracingSettings.resolve(null, "ratelimit", 1.0, Map.of()).enabled(), "no flag, no variable: off");
    assertNull(Tracing.open(TracingSettings.off()), "nothing is created when off");
    ServerSettings defaults = ServerSettings.loopback().build();
    assertFalse(defaults.tracing().enabled());
    long exportersBefore = exporterThreads();
    try (TestServer server = TestServer.start(defaults, ManualClock.atRoundTime())) {
      assertFalse(server.server().tracing());
      assertEquals(Code.OK, call(server, traceparent(traceId(7), "01"),
          request("api", descriptor("tier", "free", "org", ORG_VALUE))).getOverallCode());
      assertTrue(exporterThreads() <= exportersBefore, "no batch span processor started");
    }
  }

  @Test
  void endpointsFollowTheFlagThenTheStandardVariables() {
    assertEquals(URI.create("http://collector:4318/v1/traces"),
        TracingSettings.resolve("http://collector:4318", "s", 1, Map.of()).endpoint(), "a base URL gets /v1/traces");
    assertEquals(URI.create("http://collector:4318/v1/traces"),
        TracingSettings.resolve("http://collector:4318/", "s", 1, Map.of()).endpoint());
    assertEquals(URI.create("https://collector/otlp/v1/traces"),
        TracingSettings.resolve("https://collector/otlp/v1/traces", "s", 1, Map.of()).endpoint(), "a path is kept");
    assertEquals(URI.create("http://flag:4318/v1/traces"), TracingSettings.resolve("http://flag:4318", "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318")).endpoint(), "the flag wins");
    assertEquals(URI.create("http://env:4318/custom"), TracingSettings.resolve(null, "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:4318/custom",
            "OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")).endpoint(), "the traces variable is used as it is");
    assertEquals(URI.create("http://env:4318/prefix/v1/traces"), TracingSettings.resolve(null, "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/prefix/")).endpoint(), "the base variable gets the path");
    assertFalse(TracingSettings.resolve("http://flag:4318", "s", 1, Map.of("OTEL_SDK_DISABLED", "true")).enabled());
    assertFalse(TracingSettings.resolve(null, "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318", "OTEL_TRACES_EXPORTER", "none")).enabled());
    assertTrue(assertThrows(IllegalArgumentException.class, () -> TracingSettings.resolve(null, "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4317", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")))
        .getMessage().contains("http/protobuf"), "a gRPC collector port is refused, not exported to in vain");
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> TracingSettings.resolve("collector:4318", "s", 1, Map.of())).getMessage().contains("--otlp-endpoint"));
    assertThrows(IllegalArgumentException.class, () -> TracingSettings.resolve("http://c:4318", "s", 1.5, Map.of()));
    assertEquals(Map.of("authorization", "Bearer a=b"), TracingSettings.resolve("http://c:4318", "s", 1,
        Map.of("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20a%3Db")).headers());
  }

  private static String traceId(int n) {
    return String.format("4bf92f3577b34da6a3ce929d%08x", n);
  }

  private static Metadata traceparent(String traceId, String flags) {
    Metadata metadata = new Metadata();
    metadata.put(Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER),
        "00-" + traceId + "-" + ENVOY_SPAN + "-" + flags);
    metadata.put(Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER), "envoy=1");
    return metadata;
  }

  private static RateLimitResponse call(TestServer server, Metadata headers, RateLimitRequest request) {
    return RateLimitServiceGrpc.newBlockingStub(server.channel())
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .shouldRateLimit(request);
  }

  private static io.envoyproxy.envoy.service.auth.v3.CheckResponse check(TestServer server, Metadata headers,
      String apiKey) {
    AttributeContext.HttpRequest.Builder http = AttributeContext.HttpRequest.newBuilder().setPath("/v1/quote");
    if (apiKey != null) {
      http.putHeaders("x-api-key", apiKey);
    }
    return AuthorizationGrpc.newBlockingStub(server.channel())
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(CheckRequest.newBuilder()
            .setAttributes(AttributeContext.newBuilder().setRequest(AttributeContext.Request.newBuilder().setHttp(http)))
            .build());
  }

  private static long exporterThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().startsWith("BatchSpanProcessor"))
        .count();
  }

  /** The real store, failing every decision while {@link #failing} is set (as an unreachable Redis would). */
  private static final class FailingStore {
    volatile boolean failing;

    CounterStore wrap(CounterStore real) {
      return new CounterStore() {
        @Override
        public Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
          if (failing) {
            throw new StoreException(StoreException.Kind.UNAVAILABLE, "the test's store is down", null);
          }
          return real.apply(key, limiter, nowMillis, hits, limit);
        }

        @Override
        public void refund(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
          real.refund(key, limiter, nowMillis, hits, limit);
        }

        @Override
        public <R> R update(byte[] key, StateUpdate<R> update, long nowMillis) {
          return real.update(key, update, nowMillis);
        }

        @Override
        public long size() {
          return real.size();
        }

        @Override
        public void close() {
          real.close();
        }
      };
    }
  }
}
