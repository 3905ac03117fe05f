package dev.ratelimit.store.redis;

import java.time.Duration;
import java.util.Objects;

/**
 * How to reach Redis and decide there.
 *
 * @param uri {@code redis://host:port}, {@code rediss://...}, {@code redis-sentinel://host:port#master} or
 *     {@code redis-cluster://host:port,host:port}
 * @param timeout longest wait for Redis per request before the failure mode answers
 * @param keyPrefix prepended to every key (lets several deployments share one Redis)
 * @param overLimitCacheSize keys whose rejection is remembered locally until their reset; 0 disables
 * @param timeSource the clock decisions use
 * @param startupTimeout how long {@link RedisStore#open} keeps trying to connect and load the scripts
 * @param topologyRefresh how often the master (Sentinel) or the slots' masters (Cluster) are checked again, besides
 *     the checks that announcements and failed calls trigger
 */
public record RedisSettings(String uri, Duration timeout, String keyPrefix, int overLimitCacheSize,
    TimeSource timeSource, Duration startupTimeout, Duration topologyRefresh) {
  public RedisSettings {
    Objects.requireNonNull(uri, "uri");
    Objects.requireNonNull(timeout, "timeout");
    Objects.requireNonNull(keyPrefix, "keyPrefix");
    Objects.requireNonNull(timeSource, "timeSource");
    Objects.requireNonNull(startupTimeout, "startupTimeout");
    Objects.requireNonNull(topologyRefresh, "topologyRefresh");
    if (timeout.isNegative() || timeout.isZero()) {
      throw new IllegalArgumentException("the Redis timeout must be positive, not " + timeout);
    }
    if (startupTimeout.isNegative() || startupTimeout.isZero()) {
      throw new IllegalArgumentException("the Redis start-up timeout must be positive, not " + startupTimeout);
    }
    if (topologyRefresh.compareTo(Duration.ofMillis(100)) < 0) {
      throw new IllegalArgumentException("the Redis topology refresh period must be at least 100ms, not "
          + topologyRefresh);
    }
    if (overLimitCacheSize < 0) {
      throw new IllegalArgumentException("the over-limit cache size must be 0 or more, not " + overLimitCacheSize);
    }
    if (keyPrefix.indexOf('{') >= 0 || keyPrefix.indexOf('}') >= 0) {
      throw new IllegalArgumentException("the Redis key prefix must not contain '{' or '}' (they mark hash tags)");
    }
  }

  /**
   * Production defaults for {@code uri}: 15 ms timeout (below Envoy's default 20 ms rate-limit timeout), prefix
   * {@code rl:}, 100,000 cached rejections, Redis TIME, 30 s to start, topology checked every 5 s.
   */
  public static RedisSettings defaults(String uri) {
    return new RedisSettings(uri, Duration.ofMillis(15), "rl:", 100_000, TimeSource.REDIS, Duration.ofSeconds(30),
        Duration.ofSeconds(5));
  }

  public RedisSettings withTimeout(Duration newTimeout) {
    return new RedisSettings(uri, newTimeout, keyPrefix, overLimitCacheSize, timeSource, startupTimeout,
        topologyRefresh);
  }

  public RedisSettings withKeyPrefix(String newPrefix) {
    return new RedisSettings(uri, timeout, newPrefix, overLimitCacheSize, timeSource, startupTimeout, topologyRefresh);
  }

  public RedisSettings withOverLimitCacheSize(int newSize) {
    return new RedisSettings(uri, timeout, keyPrefix, newSize, timeSource, startupTimeout, topologyRefresh);
  }

  public RedisSettings withTimeSource(TimeSource newSource) {
    return new RedisSettings(uri, timeout, keyPrefix, overLimitCacheSize, newSource, startupTimeout, topologyRefresh);
  }

  public RedisSettings withStartupTimeout(Duration newStartupTimeout) {
    return new RedisSettings(uri, timeout, keyPrefix, overLimitCacheSize, timeSource, newStartupTimeout,
        topologyRefresh);
  }

  public RedisSettings withTopologyRefresh(Duration newTopologyRefresh) {
    return new RedisSettings(uri, timeout, keyPrefix, overLimitCacheSize, timeSource, startupTimeout,
        newTopologyRefresh);
  }
}
