package dev.ratelimit.load;

/**
 * Open-loop schedule: request {@code i} is intended to start at {@code start + i / rate} seconds, whatever happened to
 * earlier requests. Latency is measured from this intended time (not from the moment the request could actually be
 * sent), which corrects coordinated omission: a server stall delays the sends and is charged to every request it
 * delayed. Integer arithmetic only: exact and overflow-free for any run shorter than ~290 years at up to 10^9 req/s.
 */
public final class Pacer {
    private static final long NANOS_PER_SECOND = 1_000_000_000L;
    private final long startNanos;
    private final long ratePerSecond;

    /** A schedule of {@code ratePerSecond} requests per second starting at {@code startNanos} ({@link System#nanoTime()} scale). */
    public Pacer(long startNanos, long ratePerSecond) {
        if (ratePerSecond <= 0 || ratePerSecond > NANOS_PER_SECOND) {
            throw new IllegalArgumentException("--rate must be within [1, 1e9] requests per second, got " + ratePerSecond);
        }
        this.startNanos = startNanos;
        this.ratePerSecond = ratePerSecond;
    }

    /** Intended start time of request {@code index} (0-based). */
    public long intendedNanos(long index) {
        long seconds = index / ratePerSecond;
        long rest = index % ratePerSecond;
        return startNanos + seconds * NANOS_PER_SECOND + rest * NANOS_PER_SECOND / ratePerSecond;
    }

    /** How many requests are due at {@code nowNanos}: those whose intended time is {@code <= nowNanos}. */
    public long dueCount(long nowNanos) {
        long elapsed = nowNanos - startNanos;
        if (elapsed < 0) {
            return 0;
        }
        long seconds = elapsed / NANOS_PER_SECOND;
        long rest = elapsed % NANOS_PER_SECOND;
        // Within the current second, index r is due iff floor(r * 1e9 / rate) <= rest, i.e. r * 1e9 < (rest + 1) * rate;
        // the number of such r >= 0 is floor(((rest + 1) * rate - 1) / 1e9) + 1 (never more than rate).
        return seconds * ratePerSecond + ((rest + 1) * ratePerSecond - 1) / NANOS_PER_SECOND + 1;
    }

    /** Start of the schedule. */
    public long startNanos() {
        return startNanos;
    }

    /** Requests per second. */
    public long ratePerSecond() {
        return ratePerSecond;
    }
}
