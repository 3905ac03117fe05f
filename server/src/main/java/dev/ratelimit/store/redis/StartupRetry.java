package dev.ratelimit.store.redis;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Retries a start-up step with back-off until the start-up deadline; each attempt gets a bounded wait. */
final class StartupRetry {
  /** Longest wait of one start-up attempt (connecting, loading a script, the first call). */
  static final int ATTEMPT_SECONDS = 2;
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);

  private final long deadline;
  private final Duration startupTimeout;

  StartupRetry(RedisSettings settings) {
    this.startupTimeout = settings.startupTimeout();
    this.deadline = System.nanoTime() + startupTimeout.toNanos();
  }

  /** A step given the time it may wait this attempt. */
  interface Step<T> {
    T attempt(Duration remaining) throws Exception;
  }

  <T> T retry(String failure, Step<T> step) throws IOException {
    long backoffMillis = 100;
    for (int attempt = 1; ; attempt++) {
      long left = deadline - System.nanoTime();
      Duration wait = Duration.ofNanos(Math.max(TimeUnit.MILLISECONDS.toNanos(100),
          Math.min(left, TimeUnit.SECONDS.toNanos(ATTEMPT_SECONDS))));
      try {
        return step.attempt(wait);
      } catch (IllegalArgumentException e) {
        throw new IOException(e.getMessage(), e); // a malformed URI does not get better
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException(failure + ": interrupted", e);
      } catch (Exception e) {
        Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
        long remaining = deadline - System.nanoTime();
        if (remaining <= TimeUnit.MILLISECONDS.toNanos(backoffMillis)) {
          throw new IOException(failure + " (" + attempt + " attempt" + (attempt == 1 ? "" : "s") + " within "
              + startupTimeout.toMillis() + " ms, --redis-startup-timeout): " + cause, cause);
        }
        log.info("{} (attempt {}): {}; retrying", failure, attempt, cause.toString());
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(backoffMillis));
        if (Thread.interrupted()) {
          Thread.currentThread().interrupt();
          throw new IOException(failure + ": interrupted", cause);
        }
        backoffMillis = Math.min(backoffMillis * 2, 2_000);
      }
    }
  }
}
