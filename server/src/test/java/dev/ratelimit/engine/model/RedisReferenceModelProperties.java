package dev.ratelimit.engine.model;

import net.jqwik.api.Tag;
import dev.ratelimit.store.redis.RedisSettings;
import dev.ratelimit.store.redis.RedisStore;
import dev.ratelimit.store.redis.TimeSource;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.RedisInstalled;
import dev.ratelimit.testing.RedisProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * The same sequences and the same {@link ReferenceModel} on the Redis store (the Lua script) with a real
 * {@code redis-server}, the engine deciding on the test's clock ({@link TimeSource#CALLER}): once as in production,
 * with the local over-limit cache (codes and counts must equal the model's), and once without it (every status field
 * and header must). Skipped only when {@code redis-server} is missing and {@code CI} is not {@code true}.
 */
@Tag("redis")
@AddLifecycleHook(RedisInstalled.class)
class RedisReferenceModelProperties {
  private static final AtomicInteger DOMAINS = new AtomicInteger();
  private static final long ROUND_HOUR = ManualClock.atRoundTime().millis();

  private static Path dir;
  private static RedisProcess redis;
  private static RedisStore cached;
  private static RedisStore uncached;

  /** One Redis server and two stores for the whole class, opened on first use (after the skip check). */
  private static synchronized RedisStore store(boolean overLimitCache) throws Exception {
    if (redis == null) {
      dir = Files.createTempDirectory("reference-model-redis");
      redis = RedisProcess.start(dir);
      RedisSettings settings = RedisSettings.defaults(redis.uri())
          .withTimeout(Duration.ofSeconds(5)) // generous: the machine running tests may be busy
          .withTimeSource(TimeSource.CALLER);
      cached = RedisStore.open(settings);
      uncached = RedisStore.open(settings.withOverLimitCacheSize(0));
    }
    return overLimitCache ? cached : uncached;
  }

  @AfterContainer
  static void close() throws Exception {
    for (RedisStore s : new RedisStore[] {cached, uncached}) {
      if (s != null) {
        s.close();
      }
    }
    if (redis != null) {
      redis.close();
    }
    if (dir != null) {
      try (var files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Provide
  Arbitrary<List<ModelAction>> actions() {
    return ModelArbitraries.actions(40);
  }

  /**
   * A rejection cached from a request that was then rejected as a whole: the hit the same request admitted on the
   * same counter was taken back, so the cached count is one too high and must not reject the next request.
   */
  @Example
  void aRejectionSeenBeforeTheRequestsHitsWereTakenBackIsNotCachedAsFinal() throws Exception {
    ModelAction.Descriptor one = new ModelAction.Descriptor(ModelAction.Kind.K, "a", "", null, null);
    List<ModelAction> actions = List.of(
        new ModelAction.Request(List.of(new ModelAction.Descriptor(ModelAction.Kind.K, "a", "", 4L, null)), 0),
        new ModelAction.Request(List.of(one, one), 0),
        new ModelAction.Request(List.of(one), 0));
    ModelRun.run(new EngineTarget(store(true), new ManualClock(ROUND_HOUR), false),
        "model-" + DOMAINS.incrementAndGet(), ModelPolicy.initial(false), actions);
  }

  @Property(tries = 150)
  void redisWithOverLimitCacheAnswersAsTheModel(@ForAll boolean countWithinLimit,
      @ForAll @LongRange(min = 0, max = 59_999) long startOffsetMillis, @ForAll("actions") List<ModelAction> actions)
      throws Exception {
    ModelRun.run(new EngineTarget(store(true), new ManualClock(ROUND_HOUR + startOffsetMillis), false),
        "model-" + DOMAINS.incrementAndGet(), ModelPolicy.initial(countWithinLimit), actions);
  }

  @Property(tries = 50)
  void redisAnswersExactlyAsTheModel(@ForAll boolean countWithinLimit,
      @ForAll @LongRange(min = 0, max = 59_999) long startOffsetMillis, @ForAll("actions") List<ModelAction> actions)
      throws Exception {
    ModelRun.run(new EngineTarget(store(false), new ManualClock(ROUND_HOUR + startOffsetMillis), true),
        "model-u" + DOMAINS.incrementAndGet(), ModelPolicy.initial(countWithinLimit), actions);
  }
}
