package dev.ratelimit.load;

/** The plan tiers of the default policy ({@code envoy-config/ratelimit/api.yaml}); {@code keyless} has no organisation. */
public enum Tier {
    KEYLESS, FREE, DEVELOPER, LAUNCH, PRO;

    /** Descriptor value as the policy spells it. */
    public String value() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses a descriptor value such as {@code pro}; throws with the accepted values otherwise. */
    public static Tier parse(String value) {
        for (Tier t : values()) {
            if (t.value().equals(value.trim())) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown tier '" + value + "'; expected one of keyless, free, developer, launch, pro");
    }
}
