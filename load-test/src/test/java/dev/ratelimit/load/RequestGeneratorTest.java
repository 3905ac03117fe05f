package dev.ratelimit.load;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import org.junit.jupiter.api.Test;

import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The requests follow the mix: proportions, descriptor shapes of the default policy, key cardinality. */
class RequestGeneratorTest {
    private static final int N = 200_000;

    private static TrafficMix mix(int orgs, int ips, double skew) {
        return new TrafficMix(orgs, ips, 3, 0.25, 0.12, 0.06, skew,
                TrafficMix.parseTierWeights("free=50,developer=30,launch=15,pro=5"), "api", 1L);
    }

    @Test
    void proportionsFollowTheMix() {
        RequestPool pool = RequestPool.build(mix(10_000, 50_000, 0.0), N);
        int keyless = 0, execute = 0, submit = 0;
        Map<String, Integer> orgTier = new HashMap<>();
        for (int i = 0; i < N; i++) {
            List<RateLimitDescriptor> d = pool.request(i).getDescriptorsList();
            Map<String, String> plan = entries(d.get(0));
            if ("keyless".equals(plan.get("tier"))) {
                keyless++;
            } else {
                orgTier.put(plan.get("org"), orgTier.size());
                orgTier.put(plan.get("org") + "#tier", plan.get("tier").hashCode());
            }
            if ("execute".equals(plan.get("bucket"))) {
                execute++;
            } else if ("submit".equals(plan.get("bucket"))) {
                submit++;
            }
        }
        // Binomial standard deviation at N = 200k is <= 0.0012; 0.006 is five sigma.
        assertEquals(0.25, (double) keyless / N, 0.006);
        assertEquals(0.12, (double) execute / N, 0.006);
        assertEquals(0.06, (double) submit / N, 0.006);
        assertEquals(keyless, pool.stats().keyless());
        assertEquals(execute, pool.stats().byRoute().get(Route.EXECUTE));
    }

    @Test
    void organisationTiersFollowTheTierMixAndNeverChange() {
        TrafficMix mix = mix(20_000, 1_000, 0.0);
        RequestGenerator generator = new RequestGenerator(mix);
        Map<Tier, Integer> orgsPerTier = new EnumMap<>(Tier.class);
        for (int o = 0; o < mix.orgs(); o++) {
            orgsPerTier.merge(generator.tierOf(o), 1, Integer::sum);
        }
        assertEquals(0.50, orgsPerTier.get(Tier.FREE) / 20_000.0, 0.02);
        assertEquals(0.30, orgsPerTier.get(Tier.DEVELOPER) / 20_000.0, 0.02);
        assertEquals(0.15, orgsPerTier.get(Tier.LAUNCH) / 20_000.0, 0.02);
        assertEquals(0.05, orgsPerTier.get(Tier.PRO) / 20_000.0, 0.01);
        Map<String, String> tierOfOrg = new HashMap<>();
        for (int i = 0; i < 50_000; i++) {
            Map<String, String> plan = entries(generator.next().getDescriptors(0));
            if (plan.containsKey("org")) {
                String previous = tierOfOrg.putIfAbsent(plan.get("org"), plan.get("tier"));
                assertTrue(previous == null || previous.equals(plan.get("tier")), "org changed tier: " + plan);
            }
        }
    }

    @Test
    void descriptorsHaveTheShapesTheDefaultPolicyExpects() {
        RequestGenerator generator = new RequestGenerator(mix(1_000, 1_000, 1.0));
        Set<String> tiers = Set.of("free", "developer", "launch", "pro");
        for (int i = 0; i < 20_000; i++) {
            RateLimitRequest r = generator.next();
            assertEquals("api", r.getDomain());
            List<RateLimitDescriptor> d = r.getDescriptorsList();
            List<String> planKeys = d.get(0).getEntriesList().stream().map(RateLimitDescriptor.Entry::getKey).collect(Collectors.toList());
            Map<String, String> plan = entries(d.get(0));
            Map<String, String> perIp = entries(d.get(1));
            assertEquals("per_ip", perIp.get("firewall"));
            assertTrue(perIp.get("remote_address").matches("10\\.\\d+\\.\\d+\\.\\d+"));
            boolean keyless = plan.get("tier").equals("keyless");
            List<String> tail = keyless ? List.of("tier", "remote_address") : List.of("tier", "org");
            switch (generator.lastRoute()) {
                case MAIN -> assertEquals(tail, planKeys);
                case EXECUTE, SUBMIT -> {
                    assertEquals("bucket", planKeys.get(0));
                    assertEquals(generator.lastRoute().name().toLowerCase(), plan.get("bucket"));
                    assertEquals(tail, planKeys.subList(1, 3));
                }
            }
            if (keyless) {
                assertEquals(2, d.size(), "keyless requests carry no api_key descriptor");
                assertEquals(perIp.get("remote_address"), plan.get("remote_address"));
            } else {
                assertTrue(tiers.contains(plan.get("tier")));
                assertEquals(4, d.size(), "plan, per_ip, per_api_key and per_team: every descriptor envoy.yaml sends");
                Map<String, String> perKey = entries(d.get(2));
                assertEquals("per_api_key", perKey.get("firewall"));
                assertTrue(perKey.get("api_key").startsWith("ak_"));
                Map<String, String> perTeam = entries(d.get(3));
                assertEquals("per_team", perTeam.get("firewall"));
                assertEquals(plan.get("org"), perTeam.get("org"));
            }
            assertFalse(plan.containsKey("bucket") && generator.lastRoute() == Route.MAIN);
        }
    }

    @Test
    void keyCardinalityIsExactlyWhatWasAskedFor() {
        int orgs = 1_000, ips = 5_000, pool = 60_000;
        RequestPool p = RequestPool.build(mix(orgs, ips, 0.0), pool);
        Set<String> seenOrgs = new HashSet<>(), seenIps = new HashSet<>(), seenKeys = new HashSet<>();
        for (int i = 0; i < pool; i++) {
            for (RateLimitDescriptor d : p.request(i).getDescriptorsList()) {
                Map<String, String> e = entries(d);
                if (e.containsKey("org")) {
                    seenOrgs.add(e.get("org"));
                }
                if (e.containsKey("remote_address")) {
                    seenIps.add(e.get("remote_address"));
                }
                if (e.containsKey("api_key")) {
                    seenKeys.add(e.get("api_key"));
                }
            }
        }
        // IPs are assigned round-robin: 60k requests cover all 5k exactly. ~45k keyed draws over 1k orgs x 3 keys
        // (uniform) leave a given key undrawn with probability (1 - 1/3000)^45000 < 1e-6.
        assertEquals(ips, seenIps.size());
        assertEquals(orgs, seenOrgs.size());
        assertEquals(orgs * 3, seenKeys.size(), "3 keys per org, all drawn");
        assertEquals(seenIps.size(), p.stats().distinctIps());
        assertEquals(seenOrgs.size(), p.stats().distinctOrgs());
        assertEquals(seenKeys.size(), p.stats().distinctApiKeys());
    }

    @Test
    void millionIpsInAMillionRequestPool() {
        RequestPool p = RequestPool.build(new TrafficMix(100_000, 1_000_000, 2, 0.2, 0.1, 0.05, 1.0,
                TrafficMix.parseTierWeights("free=60,developer=25,launch=10,pro=5"), "api", 42L), 1_000_000);
        assertEquals(1_000_000, p.stats().distinctIps());
        // Keyed requests carry four descriptors (plan, per_ip, per_api_key, per_team): about 211 bytes on average.
        assertTrue(p.stats().avgEncodedBytes() < 240, "avg request size " + p.stats().avgEncodedBytes());
    }

    @Test
    void skewConcentratesTrafficOnTheMostPopularOrganisations() {
        RequestGenerator generator = new RequestGenerator(mix(10_000, 1_000, 1.0));
        Map<Integer, Integer> perOrg = new HashMap<>();
        int keyed = 0;
        for (int i = 0; i < N; i++) {
            generator.next();
            if (generator.lastOrg() >= 0) {
                perOrg.merge(generator.lastOrg(), 1, Integer::sum);
                keyed++;
            }
        }
        // Zipf(1) over 10k ranks: P(rank 0) = 1 / H(10000) = 0.1020.
        assertEquals(0.1020, perOrg.get(0) / (double) keyed, 0.005);
        assertTrue(perOrg.get(0) > perOrg.getOrDefault(9, 0) * 5);
    }

    @Test
    void sameSeedSameRequests() {
        RequestGenerator a = new RequestGenerator(mix(1_000, 1_000, 1.0));
        RequestGenerator b = new RequestGenerator(mix(1_000, 1_000, 1.0));
        for (int i = 0; i < 1_000; i++) {
            assertEquals(a.next(), b.next());
        }
    }

    private static Map<String, String> entries(RateLimitDescriptor d) {
        Map<String, String> m = new HashMap<>();
        for (RateLimitDescriptor.Entry e : d.getEntriesList()) {
            m.put(e.getKey(), e.getValue());
        }
        return m;
    }
}
