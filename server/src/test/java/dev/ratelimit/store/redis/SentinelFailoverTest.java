package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.testing.RedisProcess;
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
 * Sentinel failovers under traffic on real processes (a master, its replica, three Sentinels with quorum 2 that
 * declare the master down after 1 s): the master killed, frozen (SIGSTOP, woken after the switch) and failed over by
 * hand. Both stores follow the promoted replica within seconds, every answer comes within the timeout, and no counted
 * hit is lost beyond the documented window (see {@link FailoverScenario}).
 */
@Tag("redis")
@Tag("redis-failover")
class SentinelFailoverTest {
  private static final String NAME = "ratelimit";
  private static final byte[] KEY = "org-failover".getBytes(StandardCharsets.UTF_8);

  @TempDir
  Path dir;
  private RedisProcess master;
  private RedisProcess replica;
  private final List<RedisProcess> sentinels = new ArrayList<>();
  private final List<RedisStore> stores = new ArrayList<>();

  @BeforeEach
  void startRedis() throws Exception {
    master = RedisProcess.start(dir.resolve("master"));
    replica = RedisProcess.start(dir.resolve("replica"), "--replicaof", "127.0.0.1", Integer.toString(master.port()));
    FailoverScenario.awaitReplication(replica, "master_link_status:up", Duration.ofSeconds(15));
    for (int i = 0; i < 3; i++) {
      sentinels.add(RedisProcess.startSentinel(dir.resolve("sentinel-" + i), NAME, master.port(), 2, 1000));
    }
    // Sentinels find each other and the replica through the master (hello messages every 2 s).
    long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
    for (RedisProcess sentinel : sentinels) {
      while (((List<?>) sentinel.command("SENTINEL", "SENTINELS", NAME)).size() < 2
          || ((List<?>) sentinel.command("SENTINEL", "REPLICAS", NAME)).isEmpty()) {
        assertTrue(System.nanoTime() < deadline, "the Sentinels did not find each other and the replica");
        Thread.sleep(50);
      }
    }
  }

  @AfterEach
  void stopAll() throws Exception {
    for (RedisStore store : stores) {
      store.close();
    }
    for (RedisProcess sentinel : sentinels) {
      sentinel.close();
    }
    if (replica != null) {
      replica.close();
    }
    if (master != null) {
      master.close();
    }
  }

  private String uri() {
    StringBuilder uri = new StringBuilder("redis-sentinel://");
    for (RedisProcess sentinel : sentinels) {
      uri.append(uri.length() > 17 ? "," : "").append("127.0.0.1:").append(sentinel.port());
    }
    return uri.append('#').append(NAME).toString();
  }

  private void scenario(String name, FailoverScenario.Action fault, FailoverScenario.Action afterFollow)
      throws Exception {
    stores.addAll(FailoverScenario.stores(uri(), 2));
    assertEquals(List.of("127.0.0.1", Integer.toString(master.port())),
        sentinels.get(0).command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", NAME), "no failover before the fault");
    FailoverScenario.run(name, stores, List.of(KEY), replica, fault, afterFollow);
    for (RedisStore store : stores) {
      assertTrue(store.failoversFollowed() >= 1);
      assertTrue(store.isOpen(), "ready again on the new master");
    }
  }

  @Test
  void aKilledMasterIsReplacedByItsReplicaWithinSeconds() throws Exception {
    scenario("sentinel / kill -9", master::killAndHoldPort, () -> { });
  }

  @Test
  void aFrozenMasterIsLeftAtOnceAndNeverWrittenToAfterItWakes() throws Exception {
    scenario("sentinel / SIGSTOP", master::pause, () -> {
      master.resume();
      // Sentinel demotes the old master once it answers again; until then nothing may be written to it.
      FailoverScenario.awaitReplication(master, "role:slave", Duration.ofSeconds(30));
    });
  }

  @Test
  void aManualFailoverIsFollowedOnSentinelsAnnouncement() throws Exception {
    scenario("sentinel / SENTINEL FAILOVER", () -> sentinels.get(0).command("SENTINEL", "FAILOVER", NAME),
        () -> { });
  }
}
