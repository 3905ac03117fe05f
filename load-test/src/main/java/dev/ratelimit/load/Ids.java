package dev.ratelimit.load;

/**
 * Realistic-looking, deterministic identifiers: an index always maps to the same org id, API key or IP,
 * and distinct indexes map to distinct values (the hex part is a bijective mix of the index).
 */
public final class Ids {
    private Ids() {
    }

    /** Organisation id such as {@code org_3f9a0c12d4e5b678}. */
    public static String org(int index) {
        return "org_" + hex16(mix(0x0A11CE0000000000L | index));
    }

    /** API key such as {@code ak_...}, the {@code k}-th key of organisation {@code org}. */
    public static String apiKey(int org, int k) {
        return "ak_" + hex16(mix(((long) org << 16) ^ k ^ 0x5EED000000000000L)) + hex16(mix(~((long) org << 16) ^ k));
    }

    /** Client address {@code 10.a.b.c} for index {@code 0 <= index < 2^24}. */
    public static String ip(int index) {
        return "10." + ((index >>> 16) & 0xFF) + '.' + ((index >>> 8) & 0xFF) + '.' + (index & 0xFF);
    }

    /** SplitMix64 finaliser: a bijection on 64-bit values with good avalanche. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    private static String hex16(long v) {
        String s = Long.toHexString(v);
        return "0".repeat(16 - s.length()) + s;
    }
}
