package dev.ratelimit.load;

import java.util.Map;

/**
 * What a {@link RequestPool} actually contains: how many requests of each kind and how many distinct keys,
 * printed with every report so a run states the cardinality it really exercised.
 *
 * @param requests        pool size
 * @param keyless         requests without an API key
 * @param byRoute         requests per route
 * @param byTier          requests per tier (keyless included)
 * @param distinctOrgs    organisations appearing at least once
 * @param distinctIps     client IPs appearing at least once
 * @param distinctApiKeys API keys appearing at least once
 * @param avgEncodedBytes mean serialized request size
 */
public record PoolStats(int requests, int keyless, Map<Route, Integer> byRoute, Map<Tier, Integer> byTier,
                        int distinctOrgs, int distinctIps, int distinctApiKeys, double avgEncodedBytes) {
}
