package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.testing.RedisProcess;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Capacity on paper for {@code docs/redis.md}, run by hand ({@code load-test/redis-capacity.sh}), not a test: Redis CPU
 * per decision for each algorithm and 1, 3 and 8 descriptors per call, from {@code INFO commandstats}
 * ({@code usec_per_call} of {@code evalsha}: the script alone) and {@code INFO cpu} (the whole server, network I/O
 * included), on a fresh loopback {@code redis-server}; then what the local over-limit cache saves on a workload that
 * keeps hitting limits. Prints a Markdown table.
 */
public final class RedisCapacity {
  private static final int KEYS = 10_000;
  private static final int THREADS = 8;

  private RedisCapacity() {}

  public static void main(String[] args) throws Exception {
    int calls = args.length > 0 ? Integer.parseInt(args[0]) : 30_000;
    Map<String, Limiter> algorithms = new TreeMap<>(Map.of(
        "sliding_window (60 slots)", new SlidingWindowLimiter(Duration.ofMinutes(1), 60),
        "fixed_window", new FixedWindowLimiter(Duration.ofMinutes(1)),
        "token_bucket", new TokenBucketLimiter(100, 10, Duration.ofSeconds(1)),
        "sliding_window + penalty", new PenaltyLimiter(new SlidingWindowLimiter(Duration.ofMinutes(1), 60),
            new BigDecimal("1.5"), Duration.ofMinutes(5), Duration.ofMinutes(1))));
    Path dir = Files.createTempDirectory("redis-capacity");
    try (RedisProcess redis = RedisProcess.start(dir)) {
      System.out.println("| algorithm | descriptors per call | script µs per call (commandstats) "
          + "| Redis CPU µs per call (INFO cpu) | Redis CPU µs per descriptor | calls/s per master at 100 % CPU |");
      System.out.println("|---|---|---|---|---|---|");
      for (Map.Entry<String, Limiter> algorithm : algorithms.entrySet()) {
        for (int descriptors : new int[] {1, 3, 8}) {
          redis.command("FLUSHALL");
          try (RedisStore store = open(redis, 0)) {
            run(store, algorithm.getValue(), descriptors, calls / 10, 1_000_000); // warm-up
            redis.command("CONFIG", "RESETSTAT");
            double cpuBefore = cpuMicros(redis);
            run(store, algorithm.getValue(), descriptors, calls, 1_000_000);
            double cpu = (cpuMicros(redis) - cpuBefore) / calls;
            double script = usecPerCall(redis);
            System.out.printf("| %s | %d | %.1f | %.1f | %.1f | %,d |%n", algorithm.getKey(), descriptors, script, cpu,
                cpu / descriptors, Math.round(1_000_000 / cpu));
          }
        }
      }
      System.out.println();
      System.out.println("| over-limit workload (100 hits per key, limit 10, sliding window) | EVALSHA calls "
          + "| answered locally |");
      System.out.println("|---|---|---|");
      for (int cache : new int[] {0, 100_000}) {
        redis.command("FLUSHALL");
        redis.command("CONFIG", "RESETSTAT");
        try (RedisStore store = open(redis, cache)) {
          run(store, algorithms.get("sliding_window (60 slots)"), 1, 100 * 1_000, 10, 1_000);
          System.out.printf("| over-limit cache %s | %d | %d |%n", cache == 0 ? "off" : "on", evalshaCalls(redis),
              store.localRejections());
        }
      }
    }
  }

  private static RedisStore open(RedisProcess redis, int cache) throws Exception {
    return RedisStore.open(RedisSettings.defaults(redis.uri()).withTimeout(Duration.ofSeconds(2))
        .withOverLimitCacheSize(cache));
  }

  private static void run(RedisStore store, Limiter limiter, int descriptors, int calls, long limit)
      throws Exception {
    run(store, limiter, descriptors, calls, limit, KEYS);
  }

  /** {@code calls} requests of {@code descriptors} descriptors each, spread over {@code keys} counters. */
  private static void run(RedisStore store, Limiter limiter, int descriptors, int calls, long limit, int keys)
      throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<?>> tasks = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        tasks.add(pool.submit(() -> {
          for (int i = thread; i < calls; i += THREADS) {
            List<CounterStore.Op> ops = new ArrayList<>(descriptors);
            for (int d = 0; d < descriptors; d++) {
              byte[] key = ("d" + d + "-org-" + ((i * 7919L + d) % keys)).getBytes(StandardCharsets.UTF_8);
              ops.add(new CounterStore.Op(key, limiter, 1, limit));
            }
            for (CounterStore.Result result : store.applyAll(ops, System.currentTimeMillis())) {
              if (result.failure() != null) {
                throw result.failure();
              }
            }
          }
          return null;
        }));
      }
      for (Future<?> task : tasks) {
        task.get();
      }
    } finally {
      pool.shutdownNow();
    }
  }

  private static double cpuMicros(RedisProcess redis) throws Exception {
    double seconds = 0;
    for (String line : ((String) redis.command("INFO", "cpu")).split("\r\n")) {
      if (line.startsWith("used_cpu_sys:") || line.startsWith("used_cpu_user:")) {
        seconds += Double.parseDouble(line.substring(line.indexOf(':') + 1));
      }
    }
    return seconds * 1_000_000;
  }

  private static String evalshaStats(RedisProcess redis) throws Exception {
    for (String line : ((String) redis.command("INFO", "commandstats")).split("\r\n")) {
      if (line.startsWith("cmdstat_evalsha:")) {
        return line;
      }
    }
    return "";
  }

  private static double usecPerCall(RedisProcess redis) throws Exception {
    String stats = evalshaStats(redis);
    int at = stats.indexOf("usec_per_call=");
    return at < 0 ? 0 : Double.parseDouble(stats.substring(at + 14, stats.indexOf(',', at)));
  }

  private static long evalshaCalls(RedisProcess redis) throws Exception {
    String stats = evalshaStats(redis);
    int at = stats.indexOf("calls=");
    return at < 0 ? 0 : Long.parseLong(stats.substring(at + 6, stats.indexOf(',', at)));
  }
}
