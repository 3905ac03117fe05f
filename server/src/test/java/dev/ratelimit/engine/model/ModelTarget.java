package dev.ratelimit.engine.model;

import dev.ratelimit.testing.ManualClock;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;

/** What a {@link ModelRun} drives: an engine in-process, or a real server over gRPC. */
public interface ModelTarget {
  /** Decides one request at the clock's time. */
  RateLimitResponse decide(RateLimitRequest request) throws Exception;

  /** Makes {@code policy} the running policy of {@code domain} (the only domain a run uses). */
  void reload(String domain, ModelPolicy policy) throws Exception;

  /** Runs the store's sweeper at the clock's time. */
  void sweep();

  ManualClock clock();

  /**
   * Whether every status field and header must equal the model's. False for a store that answers repeated
   * rejections from a local cache, whose {@code current}/{@code remaining}/{@code reset} are those of the cached
   * rejection (codes and counts must still equal the model's).
   */
  boolean exactStatuses();
}
