package dev.ratelimit.load;

import picocli.CommandLine.Option;

/** Command-line options describing the {@link TrafficMix}, shared by every subcommand. */
public final class MixOptions {
    @Option(names = "--orgs", description = "Distinct organisations (default: ${DEFAULT-VALUE}).")
    int orgs = 100_000;

    @Option(names = "--ips", description = "Distinct client IPs, at most 2^24 (default: ${DEFAULT-VALUE}).")
    int ips = 1_000_000;

    @Option(names = "--keys-per-org", description = "API keys per organisation (default: ${DEFAULT-VALUE}).")
    int keysPerOrg = 2;

    @Option(names = "--keyless-share", description = "Share of requests without API key (default: ${DEFAULT-VALUE}).")
    double keylessShare = 0.20;

    @Option(names = "--execute-share", description = "Share of /swap/v2/execute requests (default: ${DEFAULT-VALUE}).")
    double executeShare = 0.10;

    @Option(names = "--submit-share", description = "Share of /tx/v1/submit requests (default: ${DEFAULT-VALUE}).")
    double submitShare = 0.05;

    @Option(names = "--org-skew", description = "Zipf exponent of org popularity, 0 = uniform (default: ${DEFAULT-VALUE}).")
    double orgSkew = 1.0;

    @Option(names = "--tier-mix", description = "Share of organisations per tier (default: ${DEFAULT-VALUE}).")
    String tierMix = "free=60,developer=25,launch=10,pro=5";

    @Option(names = "--domain", description = "Rate-limit domain (default: ${DEFAULT-VALUE}).")
    String domain = "api";

    @Option(names = "--seed", description = "Random seed; same seed, same requests (default: ${DEFAULT-VALUE}).")
    long seed = 42L;

    /** The validated mix. */
    public TrafficMix toMix() {
        return new TrafficMix(orgs, ips, keysPerOrg, keylessShare, executeShare, submitShare, orgSkew,
                TrafficMix.parseTierWeights(tierMix), domain, seed);
    }
}
