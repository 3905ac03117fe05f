package dev.ratelimit.grpc;

import io.grpc.BindableService;
import io.grpc.ServerCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.List;

/**
 * How the server's listeners are set up: a gRPC listener with health, reflection (both versions), call metrics and
 * the request size bound, and a bind that names the listener when it fails.
 */
public final class Listeners {
  private Listeners() {
  }

  /** Starting a listener, which may fail to bind. */
  public interface Start<T> {
    T start() throws IOException;
  }

  /**
   * A gRPC listener on {@code address:port} with {@code health}, reflection and call metrics (tagged
   * {@code metricsName}); requests above {@code maxRequestBytes} are refused (RESOURCE_EXHAUSTED) before parsing.
   */
  public static NettyServerBuilder grpc(String address, int port, ServerCredentials credentials, int maxRequestBytes,
      HealthStatusManager health, MeterRegistry registry, String metricsName) {
    return NettyServerBuilder.forAddress(new InetSocketAddress(address, port), credentials)
        .maxInboundMessageSize(maxRequestBytes)
        .addService(health.getHealthService())
        .intercept(new GrpcCallMetrics(registry, metricsName));
  }

  /** Server reflection in both versions: v1, and the deprecated v1alpha that ghz and older grpcurl ask for. */
  @SuppressWarnings("deprecation")
  public static List<BindableService> reflection() {
    return List.of(ProtoReflectionServiceV1.newInstance(), ProtoReflectionService.newInstance());
  }

  /**
   * Starts a listener; a bind failure (port in use, address not local) is reported with the listener's name and
   * address rather than the transport's wording, e.g. "cannot listen for admin gRPC on 127.0.0.1:9091: Address
   * already in use".
   */
  public static <T> T bind(String listener, String address, int port, Start<T> start) throws IOException {
    try {
      return start.start();
    } catch (IOException e) {
      Throwable cause = e;
      while (cause.getCause() != null) {
        cause = cause.getCause();
      }
      throw new IOException("cannot listen for " + listener + " on " + address + ":" + port + ": "
          + cause.getMessage(), e);
    }
  }
}
