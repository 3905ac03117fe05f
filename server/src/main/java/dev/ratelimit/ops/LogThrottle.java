package dev.ratelimit.ops;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Lets one log line through per interval of an injected clock and counts the occurrences it held back, so a condition
 * hit on every request (a full store) costs one line a minute. Thread-safe and lock-free.
 */
public final class LogThrottle {
  /** Returned by {@link #acquire()} when the line must not be logged. */
  public static final long SUPPRESSED = -1;

  private final Clock clock;
  private final long intervalMillis;
  private final AtomicLong nextAllowedAt = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong held = new AtomicLong();

  public LogThrottle(Clock clock, Duration interval) {
    this.clock = Objects.requireNonNull(clock, "clock");
    this.intervalMillis = interval.toMillis();
    if (intervalMillis < 1) {
      throw new IllegalArgumentException("the interval must be at least 1 ms, not " + interval);
    }
  }

  /**
   * Records one occurrence. Returns how many occurrences were held back since the last line when this one may be
   * logged, or {@link #SUPPRESSED}.
   */
  public long acquire() {
    long now = clock.millis();
    long next = nextAllowedAt.get();
    if (now >= next && nextAllowedAt.compareAndSet(next, now + intervalMillis)) {
      return held.getAndSet(0);
    }
    held.incrementAndGet();
    return SUPPRESSED;
  }
}
