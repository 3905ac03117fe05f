package dev.ratelimit.service;

import com.google.protobuf.UInt64Value;
import dev.ratelimit.proto.admin.v1.Entry;
import dev.ratelimit.proto.admin.v1.GetCounterRequest;
import dev.ratelimit.proto.admin.v1.GetCounterResponse;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;

/** Our admin API ({@code proto/}): reads counters through the same engine Envoy's calls use, without counting. */
public final class AdminGrpcService extends RateLimitAdminGrpc.RateLimitAdminImplBase {
  private final RateLimitEngine engine;

  public AdminGrpcService(RateLimitEngine engine) {
    this.engine = engine;
  }

  @Override
  public void getCounter(GetCounterRequest request, StreamObserver<GetCounterResponse> responses) {
    RateLimitDescriptor.Builder descriptor = RateLimitDescriptor.newBuilder()
        .setHitsAddend(UInt64Value.of(0));
    for (Entry entry : request.getEntriesList()) {
      descriptor.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(entry.getKey()).setValue(entry.getValue()));
    }
    RateLimitResponse response;
    try {
      response = engine.shouldRateLimit(RateLimitRequest.newBuilder()
          .setDomain(request.getDomain())
          .addDescriptors(descriptor)
          .build());
    } catch (InvalidRequestException e) {
      responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return;
    }
    DescriptorStatus status = response.getStatuses(0);
    GetCounterResponse.Builder out = GetCounterResponse.newBuilder().setMatched(status.hasCurrentLimit());
    if (status.hasCurrentLimit()) {
      long limit = Integer.toUnsignedLong(status.getCurrentLimit().getRequestsPerUnit());
      out.setRuleName(status.getCurrentLimit().getName()).setLimit(limit);
      for (var header : response.getResponseHeadersToAddList()) {
        long value = Long.parseLong(header.getValue());
        switch (header.getKey()) {
          case RateLimitEngine.HEADER_CURRENT -> out.setCurrent(value);
          case RateLimitEngine.HEADER_REMAINING -> out.setRemaining(value);
          case RateLimitEngine.HEADER_RESET -> out.setResetUnixSeconds(value);
          default -> { }
        }
      }
    }
    responses.onNext(out.build());
    responses.onCompleted();
  }
}
