package dev.ratelimit.grpc;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.stub.StreamObserver;

/**
 * The {@code --noop} baseline for benchmarks: the same gRPC stack answering OK to everything, with no policy and no
 * store, so that the real server's throughput can be reported as a ratio of it.
 */
public final class NoopRateLimitService extends RateLimitServiceGrpc.RateLimitServiceImplBase {
  @Override
  public void shouldRateLimit(RateLimitRequest request, StreamObserver<RateLimitResponse> responses) {
    RateLimitResponse.Builder response = RateLimitResponse.newBuilder().setOverallCode(Code.OK);
    for (int i = 0; i < request.getDescriptorsCount(); i++) {
      response.addStatuses(DescriptorStatus.newBuilder().setCode(Code.OK));
    }
    responses.onNext(response.build());
    responses.onCompleted();
  }
}
