package dev.ratelimit.bench;

import dev.ratelimit.policy.DescriptorNode;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.PolicyIndex;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.TimeUnit;

/**
 * Policy matching alone: {@link PolicyIndex#match} of one descriptor against the default policy, for the descriptor
 * shapes Envoy sends, and for the descriptors of realistic requests in turn.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class PolicyMatchBenchmark {
    private DomainPolicy api;
    private RateLimitDescriptor planPro;
    private RateLimitDescriptor executeKeyless;
    private RateLimitDescriptor firewallPerIp;
    private RateLimitDescriptor firewallUnlisted;
    private RateLimitDescriptor unmatched;
    private RateLimitDescriptor[] mixed;
    private int next;

    @Setup
    public void setUp() {
        api = Fixtures.defaultPolicy().get().domain("api");
        planPro = descriptor("tier", "pro", "org", "org_5f2c9a1b3e7d0c11");
        executeKeyless = descriptor("bucket", "execute", "tier", "keyless", "remote_address", "10.1.2.3");
        firewallPerIp = descriptor("firewall", "per_ip", "remote_address", "198.18.3.4");
        firewallUnlisted = descriptor("firewall", "per_ip", "remote_address", "10.1.2.3");
        unmatched = descriptor("tier", "enterprise", "org", "org_5f2c9a1b3e7d0c11");
        RateLimitRequest[] requests = Fixtures.requests(4_096, 1_000, 4_096);
        mixed = java.util.Arrays.stream(requests).flatMap(r -> r.getDescriptorsList().stream()).toArray(RateLimitDescriptor[]::new);
        if (PolicyIndex.match(api, planPro) == null || PolicyIndex.match(api, executeKeyless) == null
                || PolicyIndex.match(api, firewallPerIp) == null || PolicyIndex.match(api, firewallUnlisted) != null
                || PolicyIndex.match(api, unmatched) != null) {
            throw new IllegalStateException("the default policy does not match the descriptors this benchmark assumes");
        }
    }

    /** {@code [tier=pro, org=...]}: two levels, the second a wildcard (no value). */
    @Benchmark
    public DescriptorNode planDescriptor() {
        return PolicyIndex.match(api, planPro);
    }

    /** {@code [bucket=execute, tier=keyless, remote_address=...]}: three levels. */
    @Benchmark
    public DescriptorNode executeBucketDescriptor() {
        return PolicyIndex.match(api, executeKeyless);
    }

    /** {@code [firewall=per_ip, remote_address=198.18.3.4]}: matched by the {@code 198.18.*} pattern rule. */
    @Benchmark
    public DescriptorNode firewallPatternDescriptor() {
        return PolicyIndex.match(api, firewallPerIp);
    }

    /** {@code [firewall=per_ip, remote_address=10.1.2.3]}: an address no firewall rule lists (the common case). */
    @Benchmark
    public DescriptorNode firewallUnlistedDescriptor() {
        return PolicyIndex.match(api, firewallUnlisted);
    }

    /** A descriptor that matches no rule (unknown tier). */
    @Benchmark
    public DescriptorNode unmatchedDescriptor() {
        return PolicyIndex.match(api, unmatched);
    }

    /** Descriptors of realistic requests in turn (different shapes, cache-cold strings). */
    @Benchmark
    public void mixedDescriptors(Blackhole bh) {
        RateLimitDescriptor d = mixed[next];
        next = next + 1 == mixed.length ? 0 : next + 1;
        bh.consume(PolicyIndex.match(api, d));
    }

    private static RateLimitDescriptor descriptor(String... kv) {
        RateLimitDescriptor.Builder b = RateLimitDescriptor.newBuilder();
        for (int i = 0; i < kv.length; i += 2) {
            b.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(kv[i]).setValue(kv[i + 1]));
        }
        return b.build();
    }
}
