package dev.ratelimit.store.redis;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.CounterStoreContract;
import dev.ratelimit.testing.RedisProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The shared store contract on a real three-master Redis Cluster ({@code redis-cluster://}): keys spread over the
 * nodes by their hash tag, a request's descriptors split into one script call per slot.
 */
@Tag("redis")
class RedisClusterStoreTest extends CounterStoreContract {
  private static List<RedisProcess> nodes;

  @BeforeAll
  static void startCluster() throws Exception {
    nodes = RedisProcess.startCluster(Files.createTempDirectory("redis-cluster-test"), 3);
  }

  @AfterAll
  static void stopCluster() throws Exception {
    if (nodes != null) {
      for (RedisProcess node : nodes) {
        node.close();
      }
    }
  }

  private static String clusterUri() {
    return "redis-cluster://" + nodes.stream().limit(2).map(n -> "127.0.0.1:" + n.port())
        .collect(Collectors.joining(","));
  }

  @Override
  protected CounterStore openEmptyStore() throws Exception {
    for (RedisProcess node : nodes) {
      node.command("FLUSHALL");
    }
    return RedisStore.open(RedisSettings.defaults(clusterUri())
        .withTimeout(Duration.ofSeconds(5))
        .withTimeSource(TimeSource.CALLER));
  }

  @Override
  protected void assertStateExpiresAt(byte[] key, long nowMillis, long expiresAtMillis) throws Exception {
    String redisKey = new String(((RedisStore) store).redisKey(key), StandardCharsets.US_ASCII);
    Long ttl = null;
    for (RedisProcess node : nodes) {
      try {
        ttl = (Long) node.command("PTTL", redisKey);
      } catch (IOException moved) {
        // MOVED: another node owns the key's slot
      }
    }
    long expected = expiresAtMillis - nowMillis;
    assertTrue(ttl != null && ttl <= expected && ttl > expected - 5_000, "PTTL " + ttl + ", expected " + expected);
  }

  @Test
  void oneRequestsDescriptorsOnSeveralNodesAreDecidedTogether() throws Exception {
    List<CounterStore.Op> ops = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      ops.add(new CounterStore.Op(bytes("org-" + i), PER_MINUTE, 1, 5));
    }
    ops.add(new CounterStore.Op(bytes("org-0"), PER_MINUTE, 4, 5));
    ops.add(new CounterStore.Op(bytes("org-0"), PER_MINUTE, 1, 5));
    CounterStore.Result[] results = store.applyAll(ops, T0);
    for (CounterStore.Result r : results) {
      assertNull(r.failure());
    }
    assertEquals(5, results[12].verdict().current(), "ops on one key run in order within their slot's call");
    assertTrue(results[13].verdict().overLimit());
    int nodesWithKeys = 0;
    for (RedisProcess node : nodes) {
      if ((Long) node.command("DBSIZE") > 0) {
        nodesWithKeys++;
      }
    }
    assertTrue(nodesWithKeys >= 2, "12 counters spread over the cluster, found on " + nodesWithKeys + " node(s)");
    assertEquals(12, store.size(), "DBSIZE summed over the masters");
  }
}
