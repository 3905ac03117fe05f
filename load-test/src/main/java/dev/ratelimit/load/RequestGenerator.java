package dev.ratelimit.load;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;

import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Produces {@link RateLimitRequest}s the way Envoy builds them for the default policy, following a {@link TrafficMix}.
 * Deterministic for a given mix (seed included). Not thread-safe; used once, up front, to fill a {@link RequestPool}
 * or a ghz data file.
 *
 * <p>Per request: a plan descriptor (main bucket, or the execute/submit bucket), the firewall {@code per_ip} descriptor,
 * and for keyed requests the firewall {@code per_api_key} and {@code per_team} descriptors (everything envoy.yaml sends). IPs are assigned round-robin
 * ({@code n}-th request gets IP {@code n mod ips}) so that {@code ips} requests exercise exactly {@code ips} addresses;
 * organisations are drawn by popularity ({@link ZipfSampler}), each with a fixed tier.
 */
public final class RequestGenerator {
    private final TrafficMix mix;
    private final SplittableRandom random;
    private final ZipfSampler orgPopularity;
    private final Tier[] orgTier;
    private final Map<Tier, RateLimitDescriptor.Entry> tierEntries = new EnumMap<>(Tier.class);
    private final RateLimitDescriptor.Entry executeEntry = entry("bucket", "execute");
    private final RateLimitDescriptor.Entry submitEntry = entry("bucket", "submit");
    private final RateLimitDescriptor.Entry firewallPerIp = entry("firewall", "per_ip");
    private final RateLimitDescriptor.Entry firewallPerKey = entry("firewall", "per_api_key");
    private final RateLimitDescriptor.Entry firewallPerTeam = entry("firewall", "per_team");
    private long generated;

    /** Last request's attributes, for statistics and tests. */
    private Tier lastTier;
    private Route lastRoute;
    private int lastOrg = -1;
    private int lastIp;
    private int lastKey = -1;

    /** Prepares the per-organisation tier table and popularity distribution. */
    public RequestGenerator(TrafficMix mix) {
        this.mix = mix;
        this.random = new SplittableRandom(mix.seed());
        this.orgPopularity = new ZipfSampler(mix.orgs(), mix.orgSkew());
        this.orgTier = assignTiers(mix, new SplittableRandom(mix.seed() ^ 0x7E5L));
        for (Tier t : Tier.values()) {
            tierEntries.put(t, entry("tier", t.value()));
        }
    }

    /** The next request. */
    public RateLimitRequest next() {
        int ip = (int) (generated++ % mix.ips());
        String ipText = Ids.ip(ip);
        boolean keyless = random.nextDouble() < mix.keylessShare();
        double r = random.nextDouble();
        Route route = r < mix.executeShare() ? Route.EXECUTE : r < mix.executeShare() + mix.submitShare() ? Route.SUBMIT : Route.MAIN;
        int org = keyless ? -1 : orgPopularity.sample(random);
        Tier tier = keyless ? Tier.KEYLESS : orgTier[org];
        int key = keyless ? -1 : random.nextInt(mix.keysPerOrg());

        RateLimitDescriptor.Builder plan = RateLimitDescriptor.newBuilder();
        if (route == Route.EXECUTE) {
            plan.addEntries(executeEntry);
        } else if (route == Route.SUBMIT) {
            plan.addEntries(submitEntry);
        }
        plan.addEntries(tierEntries.get(tier));
        plan.addEntries(keyless ? entry("remote_address", ipText) : entry("org", Ids.org(org)));

        RateLimitRequest.Builder request = RateLimitRequest.newBuilder()
                .setDomain(mix.domain())
                .addDescriptors(plan)
                .addDescriptors(RateLimitDescriptor.newBuilder().addEntries(firewallPerIp).addEntries(entry("remote_address", ipText)));
        if (!keyless) {
            request.addDescriptors(RateLimitDescriptor.newBuilder().addEntries(firewallPerKey).addEntries(entry("api_key", Ids.apiKey(org, key))));
            request.addDescriptors(RateLimitDescriptor.newBuilder().addEntries(firewallPerTeam).addEntries(entry("org", Ids.org(org))));
        }
        lastTier = tier;
        lastRoute = route;
        lastOrg = org;
        lastIp = ip;
        lastKey = keyless ? -1 : org * mix.keysPerOrg() + key;
        return request.build();
    }

    /** Tier of the last request. */
    public Tier lastTier() {
        return lastTier;
    }

    /** Route of the last request. */
    public Route lastRoute() {
        return lastRoute;
    }

    /** Organisation index of the last request, -1 when keyless. */
    public int lastOrg() {
        return lastOrg;
    }

    /** IP index of the last request. */
    public int lastIp() {
        return lastIp;
    }

    /** Global API-key index ({@code org * keysPerOrg + k}) of the last request, -1 when keyless. */
    public int lastKey() {
        return lastKey;
    }

    /** Tier of organisation {@code org}. */
    public Tier tierOf(int org) {
        return orgTier[org];
    }

    private static Tier[] assignTiers(TrafficMix mix, SplittableRandom random) {
        Tier[] tiers = {Tier.FREE, Tier.DEVELOPER, Tier.LAUNCH, Tier.PRO};
        double[] cumulative = new double[tiers.length];
        double sum = 0;
        for (int i = 0; i < tiers.length; i++) {
            sum += mix.tierShare(tiers[i]);
            cumulative[i] = sum;
        }
        Tier[] out = new Tier[mix.orgs()];
        for (int o = 0; o < out.length; o++) {
            double u = random.nextDouble() * sum;
            int i = 0;
            while (i < tiers.length - 1 && u >= cumulative[i]) {
                i++;
            }
            out[o] = tiers[i];
        }
        return out;
    }

    private static RateLimitDescriptor.Entry entry(String key, String value) {
        return RateLimitDescriptor.Entry.newBuilder().setKey(key).setValue(value).build();
    }
}
