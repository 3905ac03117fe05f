package dev.ratelimit.grpc;

import dev.ratelimit.engine.ResponseHeaders;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;

/**
 * Global shadow mode ({@code --shadow-mode}, envoyproxy/ratelimit's {@code SHADOW_MODE}): every request is decided,
 * counted and reported in metrics as usual, then the answer is turned into OK: {@code overall_code} OK and no status
 * OVER_LIMIT. The rate-limit headers are still sent; {@code retry-after} is dropped, as nothing was refused. Each
 * answer turned is counted in {@code ratelimit_global_shadow_mode}. A thin layer over the gRPC service, so the engine
 * knows nothing of it.
 */
public final class GlobalShadowMode implements ServerInterceptor {
  private final Counter shadowed;

  public GlobalShadowMode(MeterRegistry registry) {
    this.shadowed = Counter.builder("ratelimit_global_shadow_mode")
        .description("OVER_LIMIT answers turned into OK by --shadow-mode")
        .register(registry);
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    return next.startCall(new SimpleForwardingServerCall<>(call) {
      @Override
      @SuppressWarnings("unchecked")
      public void sendMessage(R message) {
        if (message instanceof RateLimitResponse response && response.getOverallCode() == Code.OVER_LIMIT) {
          message = (R) allow(response);
          shadowed.increment();
        }
        super.sendMessage(message);
      }
    }, headers);
  }

  /** {@code response} with every OVER_LIMIT turned into OK and without {@code retry-after}. */
  static RateLimitResponse allow(RateLimitResponse response) {
    RateLimitResponse.Builder allowed = response.toBuilder().setOverallCode(Code.OK);
    for (DescriptorStatus.Builder status : allowed.getStatusesBuilderList()) {
      if (status.getCode() == Code.OVER_LIMIT) {
        status.setCode(Code.OK);
      }
    }
    for (int i = allowed.getResponseHeadersToAddCount() - 1; i >= 0; i--) {
      if (allowed.getResponseHeadersToAdd(i).getKey().equals(ResponseHeaders.RETRY_AFTER)) {
        allowed.removeResponseHeadersToAdd(i);
      }
    }
    return allowed.build();
  }
}
