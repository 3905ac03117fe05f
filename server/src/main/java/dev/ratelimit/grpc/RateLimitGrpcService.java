package dev.ratelimit.grpc;

import dev.ratelimit.engine.InvalidRequestException;
import dev.ratelimit.engine.RateLimitEngine;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Envoy's {@code envoy.service.ratelimit.v3.RateLimitService} over the {@link RateLimitEngine}. */
public final class RateLimitGrpcService extends RateLimitServiceGrpc.RateLimitServiceImplBase {
  private static final Logger log = LoggerFactory.getLogger(RateLimitGrpcService.class);

  private final RateLimitEngine engine;

  public RateLimitGrpcService(RateLimitEngine engine) {
    this.engine = engine;
  }

  @Override
  public void shouldRateLimit(RateLimitRequest request, StreamObserver<RateLimitResponse> responses) {
    RateLimitResponse response;
    try {
      response = engine.shouldRateLimit(request);
    } catch (InvalidRequestException e) {
      responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return;
    } catch (RuntimeException e) {
      log.error("ShouldRateLimit failed for domain '{}'", request.getDomain(), e);
      responses.onError(Status.INTERNAL.withDescription("internal error: " + e).asRuntimeException());
      return;
    }
    responses.onNext(response);
    responses.onCompleted();
  }
}
