package dev.ratelimit.store.redis;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.store.StoreException;
import dev.ratelimit.testing.RedisProcess;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Redis store through Sentinel ({@code redis-sentinel://...#master}) on real processes: a master, its replica and
 * one Sentinel. When the master dies, Sentinel promotes the replica and the store follows it by itself. (The failover
 * cases under traffic are {@link SentinelFailoverTest}.)
 */
@Tag("redis")
class RedisSentinelTest {
  private static final long T0 = 1_767_225_600_000L;
  private static final SlidingWindowLimiter PER_MINUTE = new SlidingWindowLimiter(Duration.ofMinutes(1), 60);
  private static final byte[] KEY = "org-acme".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path dir;

  @Test
  void decisionsFollowTheMasterAcrossAFailover() throws Exception {
    try (RedisProcess master = RedisProcess.start(dir.resolve("master"));
        RedisProcess replica = RedisProcess.start(dir.resolve("replica"),
            "--replicaof", "127.0.0.1", Integer.toString(master.port()));
        RedisProcess sentinel = RedisProcess.startSentinel(dir.resolve("sentinel"), "ratelimit", master.port())) {
      awaitReplicaInSync(replica);
      String uri = "redis-sentinel://127.0.0.1:" + sentinel.port() + "#ratelimit";
      try (RedisStore store = RedisStore.open(RedisSettings.defaults(uri)
          .withTimeout(Duration.ofSeconds(1))
          .withTimeSource(TimeSource.CALLER))) {
        for (int i = 1; i <= 3; i++) {
          assertEquals(i, store.apply(KEY, PER_MINUTE, T0 + i, 1, 10).current());
        }
        assertEquals(1L, master.command("WAIT", "1", "5000"), "the replica has the counters");
        assertEquals(List.of("127.0.0.1", Integer.toString(master.port())),
            sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "ratelimit"), "no failover before the kill");
        // Sentinel learns of replicas from the master's INFO, every 10 s: without one it knows, it cannot fail over.
        await(() -> ((List<?>) sentinel.command("SENTINEL", "REPLICAS", "ratelimit")).size() == 1,
            "Sentinel knows the replica");
        // Killed with its port held: on a busy machine another test's redis-server could otherwise start on the freed
        // port, and the store (or Sentinel) would take that empty server for the master (a count of 1, not 4).
        master.killAndHoldPort();
        // Conditions, not times: first Sentinel names the replica as the master and the replica has taken the role,
        // then the store must reach it (however long the machine takes to get there, up to the deadlines).
        List<String> promoted = List.of("127.0.0.1", Integer.toString(replica.port()));
        await(() -> promoted.equals(sentinel.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "ratelimit"))
            && ((String) replica.command("INFO", "replication")).contains("role:master"),
            "Sentinel promoted the replica");
        assertEquals(1L, replica.command("DBSIZE"), "the promoted replica holds the counter it replicated");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        Long current = null;
        while (current == null && System.nanoTime() < deadline) {
          try {
            current = store.apply(KEY, PER_MINUTE, T0 + 10, 1, 10).current();
          } catch (StoreException failingOver) {
            Thread.sleep(100);
          }
        }
        assertEquals(4L, current, "the promoted replica kept the count and the store found it through Sentinel");
      }
    }
  }

  private static void awaitReplicaInSync(RedisProcess replica) throws Exception {
    await(() -> ((String) replica.command("INFO", "replication")).contains("master_link_status:up"),
        "the replica synced with its master");
  }

  /** A condition checked on real processes. */
  private interface Condition {
    boolean holds() throws Exception;
  }

  /**
   * Waits until {@code condition} holds. The 30 s deadline only bounds a broken run: Sentinel's failover takes about
   * a few seconds here (down-after 3 s), a busy machine stretches it, and no assertion depends on how long it took.
   */
  private static void await(Condition condition, String what) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.holds()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within 30 s: " + what);
      }
      Thread.sleep(50);
    }
  }
}
