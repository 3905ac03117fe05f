package dev.ratelimit.load;

import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * How to drive one run. Open loop when {@code rate > 0} (requests start on a fixed schedule), closed loop otherwise
 * ({@code concurrency} calls always in flight). The measured phase ends after {@code duration} or {@code requests}
 * calls, whichever comes first (0 = no bound; at least one bound is required), so a run always ends by itself.
 *
 * @param target      server address (already checked by {@link LoopbackGuard})
 * @param rate        open loop: requests per second; 0 for closed loop
 * @param concurrency closed loop: calls in flight
 * @param duration    measured phase length, {@link Duration#ZERO} for none
 * @param requests    measured calls, 0 for no bound
 * @param warmup      warm-up phase before measuring (results discarded)
 * @param connections HTTP/2 connections (one channel each; calls spread round-robin)
 * @param maxInFlight open loop: cap on outstanding calls (the schedule keeps running, so latencies still count the wait)
 * @param callTimeout deadline of each call
 */
public record RunSettings(InetSocketAddress target, long rate, int concurrency, Duration duration, long requests,
                          Duration warmup, int connections, int maxInFlight, Duration callTimeout) {

    /** Validates the combination, with messages naming the options. */
    public RunSettings {
        if (rate < 0) {
            throw new IllegalArgumentException("--rate must be >= 0, got " + rate);
        }
        if (rate == 0 && concurrency <= 0) {
            throw new IllegalArgumentException("--concurrency must be > 0 for a closed-loop run, got " + concurrency);
        }
        if (duration.isNegative() || warmup.isNegative() || requests < 0) {
            throw new IllegalArgumentException("--duration, --warmup and --requests must not be negative");
        }
        if (duration.isZero() && requests == 0) {
            throw new IllegalArgumentException("give --duration or --requests (or both) so the run ends by itself");
        }
        if (connections <= 0 || maxInFlight <= 0) {
            throw new IllegalArgumentException("--connections and --max-in-flight must be > 0");
        }
        if (callTimeout.isZero() || callTimeout.isNegative()) {
            throw new IllegalArgumentException("--timeout must be > 0");
        }
    }

    /** True for the open-loop (fixed rate) mode. */
    public boolean openLoop() {
        return rate > 0;
    }
}
