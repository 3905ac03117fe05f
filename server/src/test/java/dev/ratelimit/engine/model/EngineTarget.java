package dev.ratelimit.engine.model;

import dev.ratelimit.policy.PolicyHolder;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.engine.RequestLimits;
import dev.ratelimit.engine.ResponseHeaders;
import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.testing.ManualClock;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Map;

/**
 * A {@link RateLimitEngine} wired as {@code RateLimitServer} wires it (default request limits, so 1,024-byte keys),
 * in-process on a real store, with failure mode {@code deny} so that any descriptor the engine fails to decide shows
 * as a rejection the model does not expect instead of passing unnoticed.
 */
final class EngineTarget implements ModelTarget {
  private final CounterStore store;
  private final ManualClock clock;
  private final boolean exactStatuses;
  private PolicyHolder policy;
  private RateLimitEngine engine;

  EngineTarget(CounterStore store, ManualClock clock, boolean exactStatuses) {
    this.store = store;
    this.clock = clock;
    this.exactStatuses = exactStatuses;
  }

  @Override
  public RateLimitResponse decide(RateLimitRequest request) throws Exception {
    return engine.shouldRateLimit(request);
  }

  @Override
  public void reload(String domain, ModelPolicy next) throws Exception {
    var index = new PolicyLoader().parse(Map.of(domain + ".yaml", next.yaml(domain)));
    if (engine != null) {
      policy.replace(index);
      return;
    }
    policy = new PolicyHolder(index);
    RequestLimits limits = RequestLimits.defaults();
    engine = new RateLimitEngine(policy, store, clock, limits, FailureMode.DENY,
        new ServiceMetrics(new SimpleMeterRegistry(), clock, ServiceMetrics.DEFAULT_DETAILED_VALUES),
        new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), limits.maxKeyBytes()),
        SecuritySettings.defaults().clientAddresses(), RejectedRequests.COUNT_NOWHERE, ResponseHeaders.defaults());
  }

  @Override
  public void sweep() {
    if (store instanceof ChronicleMapStore embedded) { // Redis expires keys by itself
      embedded.sweepExpired(clock.millis());
    }
  }

  @Override
  public ManualClock clock() {
    return clock;
  }

  @Override
  public boolean exactStatuses() {
    return exactStatuses;
  }
}
