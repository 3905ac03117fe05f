package dev.ratelimit.load;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.grpc.Status;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;

/**
 * Thread-safe counters and latency histogram of one phase (warm-up or measurement). Recording is wait-free
 * ({@link Recorder}, {@link LongAdder}), so the gRPC event-loop threads that complete calls never block on each other.
 */
public final class Results {
    /** Latencies above this are clamped (they are reported as max anyway). */
    static final long MAX_TRACKABLE_NANOS = TimeUnit.SECONDS.toNanos(60);

    private final Recorder latency = new Recorder(1, MAX_TRACKABLE_NANOS, 3);
    private final LongAdder sent = new LongAdder();
    private final LongAdder ok = new LongAdder();
    private final LongAdder overLimit = new LongAdder();
    private final LongAdder unknownCode = new LongAdder();
    private final LongAdder[] errors = new LongAdder[Status.Code.values().length];
    private final LongAccumulator lastCompletionNanos = new LongAccumulator(Math::max, Long.MIN_VALUE);

    /** Empty results. */
    public Results() {
        for (int i = 0; i < errors.length; i++) {
            errors[i] = new LongAdder();
        }
    }

    /** Counts a call handed to gRPC. */
    public void sent() {
        sent.increment();
    }

    /** Records a response; {@code startNanos} is the intended (open loop) or actual (closed loop) start. */
    public void response(long startNanos, RateLimitResponse response) {
        long now = System.nanoTime();
        record(startNanos, now);
        switch (response.getOverallCode()) {
            case OK -> ok.increment();
            case OVER_LIMIT -> overLimit.increment();
            default -> unknownCode.increment();
        }
    }

    /** Records a failed call (its latency included: a timeout is a latency too). */
    public void error(long startNanos, Throwable t) {
        long now = System.nanoTime();
        record(startNanos, now);
        errors[Status.fromThrowable(t).getCode().ordinal()].increment();
    }

    private void record(long startNanos, long now) {
        latency.recordValue(Math.max(1, Math.min(now - startNanos, MAX_TRACKABLE_NANOS)));
        lastCompletionNanos.accumulate(now);
    }

    /** Calls handed to gRPC. */
    public long sentCount() {
        return sent.sum();
    }

    /** Responses with {@code overall_code = OK}. */
    public long okCount() {
        return ok.sum();
    }

    /** Responses with {@code overall_code = OVER_LIMIT}. */
    public long overLimitCount() {
        return overLimit.sum();
    }

    /** Responses with {@code overall_code = UNKNOWN} (or any other value). */
    public long unknownCount() {
        return unknownCode.sum();
    }

    /** Failed calls by gRPC status code name. */
    public Map<String, Long> errorCounts() {
        Map<String, Long> out = new TreeMap<>();
        for (Status.Code code : Status.Code.values()) {
            long n = errors[code.ordinal()].sum();
            if (n > 0) {
                out.put(code.name(), n);
            }
        }
        return out;
    }

    /** Completed calls: responses plus errors. */
    public long completedCount() {
        return okCount() + overLimitCount() + unknownCount() + errorCounts().values().stream().mapToLong(Long::longValue).sum();
    }

    /** {@link System#nanoTime()} of the last completion, or {@link Long#MIN_VALUE} if none. */
    public long lastCompletionNanos() {
        return lastCompletionNanos.get();
    }

    /** Latencies (nanoseconds) recorded so far; call once, at the end. */
    public Histogram latencySnapshot() {
        return latency.getIntervalHistogram();
    }
}
