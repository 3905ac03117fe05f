package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import dev.ratelimit.limiter.UnlimitedLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.EmbeddedStates;
import dev.ratelimit.testing.RedisInstalled;
import dev.ratelimit.testing.RedisProcess;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tag;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * The differential test of the two implementations of every algorithm: the same random operation sequences run
 * through the Java limiters on the embedded store and through {@code ratelimit.lua} on a real {@code redis-server},
 * which must give identical verdicts (admitted, limit, current, remaining, reset) and keep identical state (whether a
 * key is held, and until when; later reads at later times) after every operation. Sequences mix hits (0, around the
 * counter widths, beyond 2<sup>53</sup>), requests of several descriptors that count nowhere when one rejects, limit
 * changes across the counter widths, refunds, time steps (none, within a slot, idle gaps longer than any window,
 * clock steps back).
 *
 * <p><b>One clock for both.</b> The stores decide on the test's time ({@link TimeSource#CALLER}), but Redis expires
 * keys on its own clock. So every time and length here is a whole number of units of 2<sup>16</sup> ms (the
 * algorithms only divide and compare times, so this loses no case: each is the same decision scaled), every expiry
 * is a multiple of the unit (the token bucket's 2<sup>53</sup> "never" too), and before each operation at time
 * {@code t} the test sets each key's Redis TTL to its expiry minus {@code t}, deleting it when that has come, exactly
 * as a Redis whose clock read {@code t} would, while the embedded store sweeps at {@code t}; after the operation it
 * reads the TTL back, rounded up to the unit (the few real milliseconds elapsed are far below one).
 *
 * <p>Named {@code *Test}, not {@code *Properties}, so that Surefire's default includes run it in {@code mvn verify}.
 */
@Tag("redis")
@AddLifecycleHook(RedisInstalled.class)
class ScriptMatchesJavaTest {
  private static final long UNIT = 1L << 16;
  private static final long START = UNIT * (1_767_225_600_000L / UNIT); // early 2026
  private static final int KEYS = 3;
  private static final CounterStore.Batch COUNT_NOWHERE = new CounterStore.Batch(true, false);
  private static final AtomicInteger RUNS = new AtomicInteger();

  private static Path dir;
  private static RedisProcess redis;
  private static RedisStore scripted;
  private static RedisClient client;
  private static StatefulRedisConnection<String, String> connection;

  /** One Redis server and store for the class, opened on first use (after the skip check). */
  private static synchronized void openRedis() throws Exception {
    if (redis == null) {
      dir = Files.createTempDirectory("script-matches-java");
      redis = RedisProcess.start(dir);
      scripted = RedisStore.open(RedisSettings.defaults(redis.uri())
          .withTimeout(Duration.ofSeconds(5)) // generous: the machine running tests may be busy
          .withOverLimitCacheSize(0) // the cache is not the algorithm: every decision runs the script
          .withTimeSource(TimeSource.CALLER));
      client = RedisClient.create(redis.uri());
      connection = client.connect();
    }
  }

  @AfterContainer
  static void close() throws Exception {
    if (connection != null) {
      connection.close();
      client.shutdown();
    }
    if (scripted != null) {
      scripted.close();
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

  @Property(tries = 120)
  void slidingWindowsOfEveryWidthAgree(@ForAll("slidingWindows") Limiter limiter, @ForAll("limits") long limit,
      @ForAll("actions") List<Action> actions) throws Exception {
    run(limiter, limit, actions);
  }

  @Property(tries = 60)
  void fixedWindowsAgree(@ForAll("fixedWindows") Limiter limiter, @ForAll("limits") long limit,
      @ForAll("actions") List<Action> actions) throws Exception {
    run(limiter, limit, actions);
  }

  @Property(tries = 100)
  void tokenBucketsAgree(@ForAll("tokenBuckets") Limiter limiter, @ForAll("limits") long limit,
      @ForAll("actions") List<Action> actions) throws Exception {
    run(limiter, limit, actions);
  }

  @Property(tries = 120)
  void penaltiesAroundEachAlgorithmAgree(@ForAll("penalties") Limiter limiter, @ForAll("limits") long limit,
      @ForAll("actions") List<Action> actions) throws Exception {
    run(limiter, limit, actions);
  }

  @Property(tries = 5)
  void unlimitedAgrees(@ForAll("limits") long limit, @ForAll("actions") List<Action> actions) throws Exception {
    run(UnlimitedLimiter.INSTANCE, limit, actions);
  }

  private static void run(Limiter limiter, long limit, List<Action> actions) throws Exception {
    openRedis();
    try (ChronicleMapStore embedded = ChronicleMapStore.open(new ChronicleMapStore.Settings(1_000, 8, 300, null))) {
      RUNS.incrementAndGet(); // keys of its own: Redis keeps those of earlier runs until they expire
      new Run(limiter, limit, embedded, connection.sync()).play(actions);
    }
  }

  /** One operation of a sequence; every key starts with the same limit. */
  sealed interface Action {
    void play(Run run);
  }

  /** {@code hits} on one key, on their own. */
  record Hit(int key, long hits) implements Action {
    @Override
    public void play(Run run) {
      run.hit(key, hits);
    }
  }

  /** One request's descriptors, decided together: when an enforcing one rejects, the others' hits are taken back. */
  record Request(List<Part> parts) implements Action {
    @Override
    public void play(Run run) {
      run.request(parts);
    }
  }

  record Part(int key, long hits, boolean enforcing) {}

  /** The clock moves by {@code units} (0, forwards, or back). */
  record Step(long units) implements Action {
    @Override
    public void play(Run run) {
      run.now += units * UNIT;
    }
  }

  /** A reload or an override changes the key's limit; its counters stay. */
  record SetLimit(int key, long limit) implements Action {
    @Override
    public void play(Run run) {
      run.limits[key] = limit;
    }
  }

  /** Takes back the latest admitted hit recorded at this very time (another descriptor rejected its request). */
  record Refund() implements Action {
    @Override
    public void play(Run run) {
      run.refund();
    }
  }

  /** One sequence against both stores. */
  private static final class Run {
    private final Limiter limiter;
    private final ChronicleMapStore embedded;
    private final RedisCommands<String, String> redis;
    private final long[] limits = new long[KEYS];
    private final byte[][] keys = new byte[KEYS][];
    private final String[] redisKeys = new String[KEYS];
    /** Each Redis key's expiry on the test's clock; 0 when the key does not exist, -1 when it never expires. */
    private final long[] redisExpiry = new long[KEYS];
    private final Deque<Hit> admitted = new ArrayDeque<>();
    private final Deque<Long> admittedAt = new ArrayDeque<>();
    private final Deque<Long> admittedLimit = new ArrayDeque<>();
    private long now = START;
    private String where = "";

    Run(Limiter limiter, long limit, ChronicleMapStore embedded, RedisCommands<String, String> redis) {
      this.limiter = limiter;
      this.embedded = embedded;
      this.redis = redis;
      for (int k = 0; k < KEYS; k++) {
        limits[k] = limit;
        keys[k] = ("run-" + RUNS.get() + "-key-" + k).getBytes(StandardCharsets.UTF_8);
        redisKeys[k] = new String(scripted.redisKey(keys[k]), StandardCharsets.US_ASCII);
      }
    }

    void play(List<Action> actions) {
      for (int i = 0; i < actions.size(); i++) {
        where = "action " + i + " " + actions.get(i) + " at unit " + (now - START) / UNIT + " on " + limiter;
        actions.get(i).play(this);
      }
      // The state left behind: what reads at later times see, up to long after every window.
      for (long later : new long[] {0, 1, 5, 1_000}) {
        now += later * UNIT;
        for (int k = 0; k < KEYS; k++) {
          where = "a read of key " + k + " " + later + " units after the sequence on " + limiter;
          hit(k, 0);
        }
      }
    }

    private void hit(int key, long hits) {
      atTime(now);
      Verdict java = embedded.apply(keys[key], limiter, now, hits, limits[key]);
      Verdict lua = scripted.apply(keys[key], limiter, now, hits, limits[key]);
      assertEquals(java, lua, where);
      if (hits > 0 && !java.overLimit()) {
        admitted.push(new Hit(key, hits));
        admittedAt.push(now);
        admittedLimit.push(limits[key]);
      }
      compareState(now);
    }

    private void request(List<Part> parts) {
      List<CounterStore.Op> ops = new ArrayList<>();
      for (Part p : parts) {
        ops.add(new CounterStore.Op(keys[p.key()], limiter, p.hits(), limits[p.key()], p.enforcing()));
      }
      atTime(now);
      CounterStore.Result[] java = embedded.applyAll(ops, now, COUNT_NOWHERE);
      CounterStore.Result[] lua = scripted.applyAll(ops, now, COUNT_NOWHERE);
      for (int i = 0; i < ops.size(); i++) {
        assertNull(lua[i].failure(), where);
        assertEquals(java[i].verdict(), lua[i].verdict(), where + ", descriptor " + i);
      }
      compareState(now);
    }

    private void refund() {
      if (admitted.isEmpty() || admittedAt.peek() != now) {
        return; // only hits of this very time are taken back, as a request's own are
      }
      Hit hit = admitted.pop();
      admittedAt.pop();
      long limit = admittedLimit.pop();
      atTime(now);
      embedded.refund(keys[hit.key()], limiter, now, hit.hits(), limit);
      scripted.refund(keys[hit.key()], limiter, now, hit.hits(), limit);
      compareState(now);
    }

    /** Both stores at time {@code t}: what has expired is gone, and Redis's TTLs count down from {@code t}. */
    private void atTime(long t) {
      embedded.sweepExpired(t);
      for (int k = 0; k < KEYS; k++) {
        if (redisExpiry[k] > 0 && redisExpiry[k] <= t) {
          redis.del(redisKeys[k]);
        } else if (redisExpiry[k] > t) {
          redis.pexpire(redisKeys[k], redisExpiry[k] - t);
        }
      }
    }

    /** Each key is held by both stores or by neither, until the same time. */
    private void compareState(long t) {
      for (int k = 0; k < KEYS; k++) {
        long ttl = redis.pttl(redisKeys[k]);
        redisExpiry[k] = ttl == -2 ? 0 : ttl == -1 ? -1 : t + (ttl + UNIT - 1) / UNIT * UNIT;
        long javaExpiry = EmbeddedStates.expiresAt(embedded, keys[k]);
        assertEquals(javaExpiry > t ? javaExpiry : 0, redisExpiry[k], where + ": expiry of key " + k
            + " (0 = not held, -1 = never expires)");
      }
    }
  }

  @Provide
  Arbitrary<Limiter> slidingWindows() {
    return Combinators.combine(Arbitraries.integers().between(1, 4), Arbitraries.integers().between(1, 6))
        .as((slotUnits, precision) -> new SlidingWindowLimiter(
            Duration.ofMillis(slotUnits * precision * UNIT), precision));
  }

  @Provide
  Arbitrary<Limiter> fixedWindows() {
    return Arbitraries.integers().between(1, 10).map(units -> new FixedWindowLimiter(Duration.ofMillis(units * UNIT)));
  }

  /** Buckets with and without a burst above capacity; long intervals push the forget time to "never". */
  @Provide
  Arbitrary<Limiter> tokenBuckets() {
    return Combinators.combine(
            Arbitraries.of(0L, 1L, 2L, 5L, 10L, 100L, 0xFFFF_FFFFL),
            Arbitraries.of(1L, 2L, 3L, 10L, 0xFFFF_FFFFL),
            Arbitraries.frequency(Tuple.of(8, 1L), Tuple.of(4, 2L), Tuple.of(2, 5L), Tuple.of(1, 200L)))
        .as((initial, refill, units) -> new TokenBucketLimiter(initial, refill, Duration.ofMillis(units * UNIT)));
  }

  /** A penalty around each algorithm, counting rejections in the wrapped rule's window as the policy loader does. */
  @Provide
  Arbitrary<Limiter> penalties() {
    Arbitrary<Limiter> inner = Arbitraries.oneOf(slidingWindows(), fixedWindows(), tokenBuckets());
    return Combinators.combine(inner, Arbitraries.of("1", "1.5", "2", "3", "1000000"),
            Arbitraries.integers().between(1, 20))
        .as((wrapped, factor, units) -> new PenaltyLimiter(wrapped, new BigDecimal(factor),
            Duration.ofMillis(units * UNIT), Duration.ofMillis(windowMillis(wrapped))));
  }

  private static long windowMillis(Limiter limiter) {
    if (limiter instanceof SlidingWindowLimiter sw) {
      return sw.windowMillis();
    }
    if (limiter instanceof FixedWindowLimiter fw) {
      return fw.windowMillis();
    }
    return ((TokenBucketLimiter) limiter).refillIntervalMillis();
  }

  /** Limits on both sides of each counter width (1, 2 and 4 bytes), up to the largest a rule can have. */
  @Provide
  Arbitrary<Long> limits() {
    return Arbitraries.of(0L, 1L, 2L, 3L, 5L, 10L, 100L, 254L, 255L, 256L, 1_000L, 65_535L, 65_536L, 100_000L,
        0xFFFF_FFFFL);
  }

  @Provide
  Arbitrary<List<Action>> actions() {
    Arbitrary<Integer> key = Arbitraries.frequency(Tuple.of(5, 0), Tuple.of(2, 1), Tuple.of(1, 2));
    Arbitrary<Long> hits = Arbitraries.frequency(
        Tuple.of(3, 0L), Tuple.of(10, 1L), Tuple.of(4, 2L), Tuple.of(3, 3L), Tuple.of(2, 5L), Tuple.of(1, 10L),
        Tuple.of(1, 255L), Tuple.of(1, 256L), Tuple.of(1, 65_535L), Tuple.of(1, 65_536L), Tuple.of(1, 100_000L),
        Tuple.of(1, 0xFFFF_FFFFL), Tuple.of(1, Limiter.MAX_EXACT), Tuple.of(1, Limiter.MAX_EXACT + 1),
        Tuple.of(1, Long.MAX_VALUE));
    Arbitrary<Action> hit = Combinators.combine(key, hits).as(Hit::new);
    Arbitrary<Action> request = Combinators.combine(key, hits, Arbitraries.of(true, true, true, false))
        .as(Part::new).list().ofMinSize(2).ofMaxSize(3).map(Request::new);
    Arbitrary<Action> step = Arbitraries.frequencyOf(
            Tuple.of(4, Arbitraries.just(0L)),
            Tuple.of(6, Arbitraries.just(1L)),
            Tuple.of(3, Arbitraries.longs().between(2, 5)),
            Tuple.of(2, Arbitraries.longs().between(6, 40)),
            Tuple.of(1, Arbitraries.longs().between(100, 100_000)),
            Tuple.of(2, Arbitraries.longs().between(-10, -1)))
        .map(Step::new);
    Arbitrary<Action> setLimit = Combinators.combine(key, limits()).as(SetLimit::new);
    return Arbitraries.frequencyOf(
            Tuple.of(10, hit), Tuple.of(3, request), Tuple.of(6, step), Tuple.of(2, setLimit),
            Tuple.of(2, Arbitraries.just(new Refund())))
        .list().ofMinSize(1).ofMaxSize(40);
  }
}
