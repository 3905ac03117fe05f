package dev.ratelimit.bench;

import dev.ratelimit.load.RequestGenerator;
import dev.ratelimit.load.TrafficMix;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.store.ChronicleMapStore;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * The engine's own CPU per call (what the embedded store adds above the {@code --noop} service, without gRPC), for
 * the default mix's cold keys and for the same keys again (warm), on one thread. Run it under JFR to see what costs:
 * {@code java -XX:StartFlightRecording=filename=engine.jfr,settings=profile -cp benchmarks.jar
 * dev.ratelimit.bench.EngineCostProfile [calls]}. Requests of the default mix with the default policy: the first
 * {@code calls} warm up the JIT (themselves creating keys), the next {@code calls} create new keys (cold), and are
 * then sent once more (warm: same keys, within their windows).
 */
public final class EngineCostProfile {
    private EngineCostProfile() {
    }

    /** Prints ns per call and per descriptor for the cold and warm passes. */
    public static void main(String[] args) throws Exception {
        int calls = args.length > 0 ? Integer.parseInt(args[0]) : 500_000;
        TrafficMix d = TrafficMix.defaults();
        // Every request its own IP (round-robin over more IPs than requests): per-IP counters are all new in the cold pass.
        TrafficMix mix = new TrafficMix(d.orgs(), 2 * calls, d.keysPerOrg(), d.keylessShare(), d.executeShare(),
                d.submitShare(), d.orgSkew(), d.tierWeights(), d.domain(), d.seed());
        RequestGenerator generator = new RequestGenerator(mix);
        RateLimitRequest[] warmup = new RateLimitRequest[calls];
        RateLimitRequest[] measured = new RateLimitRequest[calls];
        long descriptors = 0;
        for (int i = 0; i < calls; i++) {
            warmup[i] = generator.next();
        }
        for (int i = 0; i < calls; i++) {
            measured[i] = generator.next();
            descriptors += measured[i].getDescriptorsCount();
        }
        try (ChronicleMapStore store = ChronicleMapStore.open(new ChronicleMapStore.Settings(8L * calls, 48, 142, null))) {
            RateLimitEngine engine = Fixtures.engine(Fixtures.defaultPolicy(), store);
            run(engine, warmup);
            run(engine, warmup);
            long cold = run(engine, measured);
            long warm = run(engine, measured);
            double perCall = (double) descriptors / calls;
            System.out.printf("%d calls, %.2f descriptors per call, %d keys in the store%n", calls, perCall, store.size());
            System.out.printf("cold keys: %6.0f ns CPU per call, %5.0f ns per descriptor%n", (double) cold / calls, (double) cold / descriptors);
            System.out.printf("warm keys: %6.0f ns CPU per call, %5.0f ns per descriptor%n", (double) warm / calls, (double) warm / descriptors);
        }
    }

    /** Thread CPU time of one pass, ns. */
    private static long run(RateLimitEngine engine, RateLimitRequest[] requests) throws Exception {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        long start = threads.getCurrentThreadCpuTime();
        long ok = 0;
        for (RateLimitRequest request : requests) {
            ok += engine.shouldRateLimit(request).getStatusesCount();
        }
        if (ok == 0) {
            throw new IllegalStateException("no statuses");
        }
        return threads.getCurrentThreadCpuTime() - start;
    }
}
