package dev.ratelimit.load;

import com.google.protobuf.InvalidProtocolBufferException;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;

import java.util.BitSet;
import java.util.EnumMap;
import java.util.Map;

/**
 * Requests prebuilt once and kept serialized, so that sending costs the generator no protobuf work and no garbage
 * beyond gRPC's own. About 150 bytes per request: a pool of 1M requests (enough to touch 1M distinct IPs) needs ~180 MB.
 */
public final class RequestPool {
    private final byte[][] encoded;
    private final PoolStats stats;

    private RequestPool(byte[][] encoded, PoolStats stats) {
        this.encoded = encoded;
        this.stats = stats;
    }

    /** Builds {@code size} requests following {@code mix}. */
    public static RequestPool build(TrafficMix mix, int size) {
        if (size <= 0) {
            throw new IllegalArgumentException("--pool-size must be > 0, got " + size);
        }
        RequestGenerator generator = new RequestGenerator(mix);
        byte[][] encoded = new byte[size][];
        Map<Route, Integer> byRoute = new EnumMap<>(Route.class);
        Map<Tier, Integer> byTier = new EnumMap<>(Tier.class);
        BitSet orgs = new BitSet(mix.orgs());
        BitSet ips = new BitSet(Math.min(mix.ips(), size));
        BitSet keys = new BitSet();
        int keyless = 0;
        long bytes = 0;
        for (int i = 0; i < size; i++) {
            encoded[i] = generator.next().toByteArray();
            bytes += encoded[i].length;
            byRoute.merge(generator.lastRoute(), 1, Integer::sum);
            byTier.merge(generator.lastTier(), 1, Integer::sum);
            ips.set(generator.lastIp());
            if (generator.lastOrg() < 0) {
                keyless++;
            } else {
                orgs.set(generator.lastOrg());
                keys.set(generator.lastKey());
            }
        }
        PoolStats stats = new PoolStats(size, keyless, Map.copyOf(byRoute), Map.copyOf(byTier),
                orgs.cardinality(), ips.cardinality(), keys.cardinality(), (double) bytes / size);
        return new RequestPool(encoded, stats);
    }

    /** Number of requests. */
    public int size() {
        return encoded.length;
    }

    /** The {@code i}-th request, serialized (shared: callers must not modify it). */
    public byte[] encoded(int i) {
        return encoded[i];
    }

    /** The {@code i}-th request, decoded (allocates; for tests and tools, not the send path). */
    public RateLimitRequest request(int i) {
        try {
            return RateLimitRequest.parseFrom(encoded[i]);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("pool entry " + i + " does not parse", e);
        }
    }

    /** Composition of the pool. */
    public PoolStats stats() {
        return stats;
    }
}
