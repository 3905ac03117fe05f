package dev.ratelimit.load;

import java.util.EnumMap;
import java.util.Map;

/**
 * What realistic traffic against the default policy looks like: key cardinality and the shares of each request kind.
 * Immutable; every argument is validated with a message naming the option.
 *
 * @param orgs          distinct organisations (keyed traffic)
 * @param ips           distinct client IPs (every request carries one)
 * @param keysPerOrg    API keys per organisation (firewall {@code per_api_key})
 * @param keylessShare  share of requests without an API key ({@code tier=keyless}, limited per IP)
 * @param executeShare  share of requests to {@code /swap/v2/execute} (bucket descriptor instead of the main one)
 * @param submitShare   share of requests to {@code /tx/v1/submit}
 * @param orgSkew       Zipf exponent of organisation popularity (0 = uniform; 1 = classic Zipf)
 * @param tierWeights   relative weight of each paid/free tier among organisations (keyless excluded)
 * @param domain        rate-limit domain sent with every request
 * @param seed          random seed; the same mix and seed always give the same requests
 */
public record TrafficMix(int orgs, int ips, int keysPerOrg, double keylessShare, double executeShare,
                         double submitShare, double orgSkew, Map<Tier, Double> tierWeights, String domain, long seed) {

    /** Mix used when no option is given: 100k orgs, 1M IPs, a skewed org popularity. */
    public static TrafficMix defaults() {
        return new TrafficMix(100_000, 1_000_000, 2, 0.20, 0.10, 0.05, 1.0, parseTierWeights("free=60,developer=25,launch=10,pro=5"), "api", 42L);
    }

    /** Validates and defensively copies the arguments. */
    public TrafficMix {
        positive("orgs", orgs);
        positive("ips", ips);
        if (ips > (1 << 24)) {
            throw new IllegalArgumentException("--ips must be at most 16777216 (addresses are drawn from 10.0.0.0/8), got " + ips);
        }
        positive("keys-per-org", keysPerOrg);
        if ((long) orgs * keysPerOrg > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--orgs x --keys-per-org must stay below 2^31, got " + (long) orgs * keysPerOrg);
        }
        share("keyless-share", keylessShare);
        share("execute-share", executeShare);
        share("submit-share", submitShare);
        if (executeShare + submitShare > 1.0) {
            throw new IllegalArgumentException("--execute-share + --submit-share must be at most 1, got " + (executeShare + submitShare));
        }
        if (!(orgSkew >= 0.0 && orgSkew <= 5.0)) {
            throw new IllegalArgumentException("--org-skew must be within [0, 5], got " + orgSkew);
        }
        EnumMap<Tier, Double> copy = new EnumMap<>(Tier.class);
        double sum = 0;
        for (Map.Entry<Tier, Double> e : tierWeights.entrySet()) {
            if (e.getKey() == Tier.KEYLESS) {
                throw new IllegalArgumentException("--tier-mix lists organisation tiers only; use --keyless-share for keyless traffic");
            }
            if (!(e.getValue() >= 0)) {
                throw new IllegalArgumentException("--tier-mix weight of " + e.getKey().value() + " must be >= 0, got " + e.getValue());
            }
            copy.put(e.getKey(), e.getValue());
            sum += e.getValue();
        }
        if (sum <= 0) {
            throw new IllegalArgumentException("--tier-mix needs at least one positive weight, e.g. free=60,developer=25,launch=10,pro=5");
        }
        tierWeights = java.util.Collections.unmodifiableMap(copy);
        if (domain == null || domain.isBlank()) {
            throw new IllegalArgumentException("--domain must not be empty");
        }
    }

    /** Parses {@code free=60,developer=25,launch=10,pro=5} (weights need not sum to 100). */
    public static Map<Tier, Double> parseTierWeights(String spec) {
        EnumMap<Tier, Double> weights = new EnumMap<>(Tier.class);
        for (String part : spec.split(",")) {
            String[] kv = part.split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("--tier-mix entry '" + part + "' is not tier=weight");
            }
            try {
                weights.put(Tier.parse(kv[0]), Double.parseDouble(kv[1].trim()));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--tier-mix weight '" + kv[1] + "' is not a number");
            }
        }
        return weights;
    }

    /** Share of organisations in {@code tier} (0 for keyless). */
    public double tierShare(Tier tier) {
        double sum = tierWeights.values().stream().mapToDouble(Double::doubleValue).sum();
        return tierWeights.getOrDefault(tier, 0.0) / sum;
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("--" + name + " must be > 0, got " + v);
        }
    }

    private static void share(String name, double v) {
        if (!(v >= 0.0 && v <= 1.0)) {
            throw new IllegalArgumentException("--" + name + " must be within [0, 1], got " + v);
        }
    }
}
