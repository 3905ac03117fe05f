package dev.ratelimit.store.redis;

/** Which clock a {@link RedisStore} decision uses. */
public enum TimeSource {
  /**
   * Redis {@code TIME}, read inside the script: every replica decides on the one clock of the Redis node holding the
   * key, so replicas with skewed clocks still agree. The time the caller passes is ignored. The production setting.
   */
  REDIS,
  /**
   * The time the caller passes (the replica's clock). For tests that drive time by hand, and for setups that trust the
   * replicas' clocks more than Redis's. Calls then carry no deadline (replies say nothing about Redis {@code TIME}),
   * so a call Redis runs after the caller gave up still counts.
   */
  CALLER
}
