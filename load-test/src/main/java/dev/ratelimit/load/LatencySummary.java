package dev.ratelimit.load;

import org.HdrHistogram.Histogram;

/**
 * Latency percentiles in microseconds, taken from an HdrHistogram of nanoseconds.
 *
 * @param count recorded calls
 * @param mean  mean
 * @param p50   median
 * @param p90   90th percentile
 * @param p99   99th percentile
 * @param p999  99.9th percentile
 * @param max   maximum
 */
public record LatencySummary(long count, double mean, double p50, double p90, double p99, double p999, double max) {

    /** Summarises {@code nanos}. */
    public static LatencySummary of(Histogram nanos) {
        if (nanos.getTotalCount() == 0) {
            return new LatencySummary(0, 0, 0, 0, 0, 0, 0);
        }
        return new LatencySummary(nanos.getTotalCount(), nanos.getMean() / 1e3,
                us(nanos.getValueAtPercentile(50)), us(nanos.getValueAtPercentile(90)), us(nanos.getValueAtPercentile(99)),
                us(nanos.getValueAtPercentile(99.9)), us(nanos.getMaxValue()));
    }

    private static double us(long nanos) {
        return nanos / 1e3;
    }
}
