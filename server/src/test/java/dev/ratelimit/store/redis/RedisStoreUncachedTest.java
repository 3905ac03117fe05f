package dev.ratelimit.store.redis;

/** The shared store contract on Redis with the local over-limit cache off: every decision is the script's. */
class RedisStoreUncachedTest extends AbstractRedisStoreContract {
  @Override
  int overLimitCacheSize() {
    return 0;
  }
}
