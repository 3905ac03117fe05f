package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.testing.RedisProcess;
import io.lettuce.core.cluster.SlotHash;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Redis Cluster failovers under traffic on real processes (three masters, each with a replica, node timeout 2 s): one
 * master killed, frozen (SIGSTOP, woken after the switch) and failed over by hand ({@code CLUSTER FAILOVER} on its
 * replica). Both stores route its slots to the promoted replica within seconds although a frozen master neither drops
 * connections nor answers MOVED; a counter on a surviving master never loses or doubles a hit.
 */
@Tag("redis")
@Tag("redis-failover")
class ClusterFailoverTest {
  private static final int MASTERS = 3;

  @TempDir
  Path dir;
  private List<RedisProcess> nodes = List.of();
  private final List<RedisStore> stores = new ArrayList<>();
  private byte[] victimKey;
  private byte[] survivorKey;
  private int victim;

  @BeforeEach
  void startCluster() throws Exception {
    nodes = RedisProcess.startCluster(dir, MASTERS, true, 2000);
    victimKey = "org-failover".getBytes(StandardCharsets.UTF_8);
    victim = masterOf(victimKey);
    for (int i = 0; survivorKey == null; i++) {
      byte[] candidate = ("org-survivor-" + i).getBytes(StandardCharsets.UTF_8);
      if (masterOf(candidate) != victim) {
        survivorKey = candidate;
      }
    }
  }

  /** The index of the master owning a counter's slot (RedisProcess.startCluster splits the slots evenly). */
  private static int masterOf(byte[] counterKey) throws Exception {
    // The store's key layout: prefix, then the base64url of the counter key as the hash tag.
    String tag = java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(counterKey);
    int slot = SlotHash.getSlot(tag.getBytes(StandardCharsets.US_ASCII));
    int master = 0;
    while (slot > 16384 * (master + 1) / MASTERS - 1) {
      master++;
    }
    return master;
  }

  @AfterEach
  void stopAll() throws Exception {
    for (RedisStore store : stores) {
      store.close();
    }
    for (RedisProcess node : nodes) {
      node.close();
    }
  }

  private void scenario(String name, FailoverScenario.Action fault, FailoverScenario.Action afterFollow)
      throws Exception {
    StringBuilder uri = new StringBuilder("redis-cluster://");
    for (int i = 0; i < MASTERS; i++) {
      if (i != victim) {
        uri.append(uri.length() > 16 ? "," : "").append("127.0.0.1:").append(nodes.get(i).port());
      }
    }
    stores.addAll(FailoverScenario.stores(uri.toString(), 2));
    FailoverScenario.run(name, stores, List.of(victimKey, survivorKey), nodes.get(MASTERS + victim), fault,
        afterFollow);
    for (RedisStore store : stores) {
      assertTrue(store.isOpen(), "ready throughout: the other masters kept deciding");
    }
  }

  @Test
  void aKilledMastersSlotsMoveToItsReplicaWithinSeconds() throws Exception {
    scenario("cluster / kill -9", () -> nodes.get(victim).killAndHoldPort(), () -> { });
  }

  @Test
  void aFrozenMastersSlotsMoveWithoutWaitingForThePeriodicRefresh() throws Exception {
    scenario("cluster / SIGSTOP", () -> nodes.get(victim).pause(), () -> {
      nodes.get(victim).resume();
      FailoverScenario.awaitReplication(nodes.get(victim), "role:slave", Duration.ofSeconds(30));
    });
  }

  @Test
  void aManualFailoverIsFollowed() throws Exception {
    scenario("cluster / CLUSTER FAILOVER", () -> nodes.get(MASTERS + victim).command("CLUSTER", "FAILOVER"),
        () -> { });
  }
}
