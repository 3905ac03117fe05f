package dev.ratelimit.testing;

import com.google.protobuf.UInt64Value;
import dev.ratelimit.bootstrap.RateLimitServer;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.store.CounterStore;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** A real server on a loopback port with a blocking client, for tests. */
public final class TestServer implements AutoCloseable {
  private final RateLimitServer server;
  private final ManagedChannel channel;
  private final ManagedChannel adminChannel;
  private final RateLimitServiceGrpc.RateLimitServiceBlockingStub stub;
  private final PrometheusMeterRegistry registry;

  private TestServer(RateLimitServer server, PrometheusMeterRegistry registry) {
    this.server = server;
    this.registry = registry;
    this.channel = NettyChannelBuilder.forAddress("127.0.0.1", server.grpcPort()).usePlaintext().build();
    this.adminChannel = server.adminGrpcPort() < 0 ? null
        : NettyChannelBuilder.forAddress("127.0.0.1", server.adminGrpcPort()).usePlaintext().build();
    this.stub = RateLimitServiceGrpc.newBlockingStub(channel);
  }

  public static TestServer start(ServerSettings settings, ManualClock clock) throws Exception {
    return start(settings, clock, UnaryOperator.identity());
  }

  /** A server whose store is passed through {@code storeWrapper} (e.g. a slow store). */
  public static TestServer start(ServerSettings settings, ManualClock clock,
      UnaryOperator<CounterStore> storeWrapper) throws Exception {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    return new TestServer(RateLimitServer.start(settings, clock, registry, storeWrapper), registry);
  }

  /** A server exporting its meters to {@code registry} (e.g. the one {@code Main} runs with). */
  public static TestServer start(ServerSettings settings, ManualClock clock,
      PrometheusMeterRegistry registry) throws Exception {
    return new TestServer(RateLimitServer.start(settings, clock, registry), registry);
  }

  /** The admin HTTP address of {@code path}, e.g. {@code admin("/metrics")}. */
  public URI admin(String path) {
    return URI.create("http://127.0.0.1:" + server.adminPort() + path);
  }

  public RateLimitServer server() {
    return server;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** A plaintext channel to the public gRPC port (what Envoy calls). */
  public ManagedChannel channel() {
    return channel;
  }

  /** A plaintext channel to the admin gRPC listener ({@code RateLimitAdmin}); fails when it is off. */
  public ManagedChannel adminChannel() {
    if (adminChannel == null) {
      throw new IllegalStateException("the admin gRPC listener is off in this test's settings");
    }
    return adminChannel;
  }

  public RateLimitServiceGrpc.RateLimitServiceBlockingStub stub() {
    return stub.withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  public RateLimitResponse call(RateLimitRequest request) {
    return stub().shouldRateLimit(request);
  }

  /** Builds a descriptor from alternating keys and values: {@code descriptor("tier", "pro", "org", "acme")}. */
  public static RateLimitDescriptor descriptor(String... keysAndValues) {
    RateLimitDescriptor.Builder d = RateLimitDescriptor.newBuilder();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      d.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(keysAndValues[i]).setValue(keysAndValues[i + 1]));
    }
    return d.build();
  }

  /** The same descriptor with a descriptor-level hits_addend. */
  public static RateLimitDescriptor withHits(RateLimitDescriptor d, long hits) {
    return d.toBuilder().setHitsAddend(UInt64Value.of(hits)).build();
  }

  public static RateLimitRequest request(String domain, RateLimitDescriptor... descriptors) {
    RateLimitRequest.Builder r = RateLimitRequest.newBuilder().setDomain(domain);
    for (RateLimitDescriptor d : descriptors) {
      r.addDescriptors(d);
    }
    return r.build();
  }

  /** The response's {@code x-ratelimit-*} headers by name. */
  public static Map<String, String> headers(RateLimitResponse response) {
    Map<String, String> headers = new LinkedHashMap<>();
    response.getResponseHeadersToAddList().forEach(h -> headers.put(h.getKey(), h.getValue()));
    return headers;
  }

  @Override
  public void close() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    if (adminChannel != null) {
      adminChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    server.close();
  }
}
