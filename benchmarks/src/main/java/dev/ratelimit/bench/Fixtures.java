package dev.ratelimit.bench;

import dev.ratelimit.policy.ConfigException;
import dev.ratelimit.policy.PolicyHolder;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.load.RequestGenerator;
import dev.ratelimit.load.TrafficMix;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.engine.ClientAddressPolicy;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.engine.RequestLimits;
import dev.ratelimit.engine.ResponseHeaders;
import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.time.Clock;

/** Shared set-up: the embedded default policy, a store sized like the server's default, realistic requests. */
final class Fixtures {
    private Fixtures() {
    }

    /** The default policy, as the server loads it without {@code --config}. */
    static PolicyHolder defaultPolicy() {
        try {
            return new PolicyHolder(new PolicyLoader().loadDefault());
        } catch (ConfigException e) {
            throw new IllegalStateException("the embedded default policy does not load", e);
        }
    }

    /** An in-memory store sized like the server's defaults ({@code ChronicleMapStore.Settings.defaults()}). */
    static ChronicleMapStore defaultStore() {
        try {
            return ChronicleMapStore.open(ChronicleMapStore.Settings.defaults());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The engine wired as {@code RateLimitServer} wires it (Prometheus registry, system clock, allow on failure). */
    static RateLimitEngine engine(PolicyHolder policy, CounterStore store) {
        RequestLimits limits = RequestLimits.defaults();
        return new RateLimitEngine(policy, store, Clock.systemUTC(), limits, FailureMode.ALLOW,
                new ServiceMetrics(new PrometheusMeterRegistry(PrometheusConfig.DEFAULT)),
                new QuotaBook(store, new QuotaLedger(QuotaLedger.DEFAULT_RATE), limits.maxKeyBytes()),
                ClientAddressPolicy.defaults(), RejectedRequests.COUNT_NOWHERE, ResponseHeaders.defaults());
    }

    /**
     * {@code n} requests of the load generator's default mix, scaled down so a benchmark iteration touches every
     * key many times (orgs/IPs given); uniform popularity, so no single key saturates its limit.
     */
    static RateLimitRequest[] requests(int n, int orgs, int ips) {
        TrafficMix d = TrafficMix.defaults();
        TrafficMix mix = new TrafficMix(orgs, ips, d.keysPerOrg(), d.keylessShare(), d.executeShare(), d.submitShare(),
                0.0, d.tierWeights(), d.domain(), d.seed());
        RequestGenerator generator = new RequestGenerator(mix);
        RateLimitRequest[] out = new RateLimitRequest[n];
        for (int i = 0; i < n; i++) {
            out[i] = generator.next();
        }
        return out;
    }
}
