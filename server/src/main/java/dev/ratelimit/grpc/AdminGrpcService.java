package dev.ratelimit.grpc;

import dev.ratelimit.engine.InvalidRequestException;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.proto.admin.v1.Entry;
import dev.ratelimit.proto.admin.v1.GetCounterRequest;
import dev.ratelimit.proto.admin.v1.GetCounterResponse;
import dev.ratelimit.proto.admin.v1.GetQuotaRequest;
import dev.ratelimit.proto.admin.v1.QuotaResponse;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import dev.ratelimit.proto.admin.v1.RecordVolumeRequest;
import dev.ratelimit.proto.admin.v1.RecordVolumeResponse;
import dev.ratelimit.proto.admin.v1.SetQuotaRequest;
import dev.ratelimit.quota.Quota;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.store.StoreException;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.math.BigDecimal;

/**
 * Our admin API ({@code proto/}): reads counters through the same engine Envoy's calls use, without counting, and
 * records volume and overrides for the dynamic quota (docs/algorithms.md, dynamic quota) in the engine's {@link QuotaBook}.
 */
public final class AdminGrpcService extends RateLimitAdminGrpc.RateLimitAdminImplBase {
  private final RateLimitEngine engine;

  public AdminGrpcService(RateLimitEngine engine) {
    this.engine = engine;
  }

  @Override
  public void getCounter(GetCounterRequest request, StreamObserver<GetCounterResponse> responses) {
    RateLimitDescriptor.Builder descriptor = RateLimitDescriptor.newBuilder();
    for (Entry entry : request.getEntriesList()) {
      descriptor.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(entry.getKey()).setValue(entry.getValue()));
    }
    RateLimitEngine.CounterView view;
    try {
      view = engine.inspect(request.getDomain(), descriptor.build());
    } catch (InvalidRequestException e) {
      responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return;
    } catch (StoreException e) {
      responses.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
      return;
    }
    GetCounterResponse.Builder out = GetCounterResponse.newBuilder().setMatched(view != null);
    if (view != null) {
      Verdict v = view.verdict();
      out.setRuleName(view.rule().name())
          .setLimit(v.limit())
          .setCurrent(v.current())
          .setRemaining(v.remaining())
          .setResetUnixSeconds(v.resetEpochSeconds());
    }
    responses.onNext(out.build());
    responses.onCompleted();
  }

  @Override
  public void recordVolume(RecordVolumeRequest request, StreamObserver<RecordVolumeResponse> responses) {
    quotaCall(responses, now -> {
      if (!Double.isFinite(request.getUsd())) {
        throw new IllegalArgumentException("usd must be a finite number");
      }
      long at = request.hasTimestamp()
          ? Math.addExact(Math.multiplyExact(request.getTimestamp().getSeconds(), 1000L),
              request.getTimestamp().getNanos() / 1_000_000)
          : now;
      QuotaBook.Recorded recorded =
          engine.quotas().record(request.getOrg(), BigDecimal.valueOf(request.getUsd()), at, now);
      return RecordVolumeResponse.newBuilder()
          .setCounted(recorded.counted())
          .setQuota(toProto(request.getOrg(), recorded.quota()))
          .build();
    });
  }

  @Override
  public void setQuota(SetQuotaRequest request, StreamObserver<QuotaResponse> responses) {
    quotaCall(responses, now -> toProto(request.getOrg(), request.getClear()
        ? engine.quotas().clearOverride(request.getOrg(), now)
        : engine.quotas().override(request.getOrg(), request.getAdded(), now)));
  }

  @Override
  public void getQuota(GetQuotaRequest request, StreamObserver<QuotaResponse> responses) {
    quotaCall(responses, now -> toProto(request.getOrg(), engine.quotas().get(request.getOrg(), now)));
  }

  private QuotaResponse toProto(String org, Quota q) {
    return QuotaResponse.newBuilder()
        .setOrg(org)
        .setAdded(q.added())
        .setOverridden(q.overridden())
        .setComputedAdded(q.computedAdded())
        .setVolume24HUsd(BigDecimal.valueOf(q.volumeMicroUsd()).movePointLeft(6).doubleValue())
        .setPendingUsd(BigDecimal.valueOf(q.pendingMicroUsd()).movePointLeft(6).doubleValue())
        .setComputedAtUnixSeconds(q.computedAtMillis() / 1000)
        .setNextComputationUnixSeconds(q.nextComputationMillis() / 1000)
        .setRate(engine.quotas().ledger().rate().toPlainString())
        .build();
  }

  /** Runs a quota operation at the engine's time; bad arguments are INVALID_ARGUMENT, store failures UNAVAILABLE. */
  private <T> void quotaCall(StreamObserver<T> responses, QuotaOperation<T> operation) {
    T result;
    try {
      result = operation.run(engine.clock().millis());
    } catch (IllegalArgumentException | ArithmeticException e) {
      responses.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
      return;
    } catch (StoreException e) {
      responses.onError(Status.UNAVAILABLE.withDescription(e.getMessage()).asRuntimeException());
      return;
    }
    responses.onNext(result);
    responses.onCompleted();
  }

  @FunctionalInterface
  private interface QuotaOperation<T> {
    T run(long nowMillis);
  }
}
