package dev.ratelimit.store.redis;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.CounterStoreContract;
import dev.ratelimit.testing.RedisProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * The shared store contract on a real standalone {@code redis-server} started for the test class, with the script
 * taking the test's time ({@link TimeSource#CALLER}) so that explicit times work as on the embedded store.
 */
@Tag("redis")
abstract class AbstractRedisStoreContract extends CounterStoreContract {
  static RedisProcess redis;
  private static Path dir;

  @BeforeAll
  static void startRedis() throws Exception {
    dir = Files.createTempDirectory("redis-store-test");
    redis = RedisProcess.start(dir);
  }

  @AfterAll
  static void stopRedis() throws Exception {
    if (redis != null) {
      redis.close();
      redis = null;
    }
  }

  /** Keys whose rejection the store remembers locally. */
  abstract int overLimitCacheSize();

  RedisSettings settings() {
    return RedisSettings.defaults(redis.uri())
        .withTimeout(Duration.ofSeconds(5)) // generous: the machine running tests may be busy
        .withOverLimitCacheSize(overLimitCacheSize())
        .withTimeSource(TimeSource.CALLER);
  }

  @Override
  protected CounterStore openEmptyStore() throws Exception {
    redis.command("FLUSHALL");
    return RedisStore.open(settings());
  }

  @Override
  protected void assertStateExpiresAt(byte[] key, long nowMillis, long expiresAtMillis) throws Exception {
    String redisKey = new String(((RedisStore) store).redisKey(key), StandardCharsets.US_ASCII);
    long ttl = (Long) redis.command("PTTL", redisKey);
    long expected = expiresAtMillis - nowMillis;
    assertTrue(ttl <= expected && ttl > expected - 5_000,
        "Redis expires the key " + expected + " ms after the last hit by itself, PTTL was " + ttl);
  }
}
