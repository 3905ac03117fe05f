package dev.ratelimit.store.redis;

import io.lettuce.core.RedisURI;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.cluster.event.ClusterTopologyChangedEvent;
import io.lettuce.core.cluster.models.partitions.RedisClusterNode;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;

/**
 * Redis Cluster ({@code redis-cluster://h1:p1,h2:p2}): commands routed by slot, the topology refreshed every
 * {@link Options#topologyRefresh()} from every known node (dynamic refresh sources), on MOVED/ASK and reconnects
 * (Lettuce's adaptive triggers), and on a run of failed calls to one node ({@link #recheckTopology}): a frozen master
 * answers nothing and drops no connection, so only the last two notice its replica's promotion. A demoted master
 * answers {@code MOVED}, which Lettuce follows to the new master.
 */
final class ClusterConnection extends RedisConnection {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);

  private final RedisClusterClient client;
  private final ClientResources resources;
  private final RedisEventLog events;
  private final StatefulRedisClusterConnection<byte[], byte[]> connection;
  private final Disposable topologyLog;
  private final List<byte[]> scripts;

  private ClusterConnection(RedisClusterClient client, ClientResources resources, RedisEventLog events,
      StatefulRedisClusterConnection<byte[], byte[]> connection, List<byte[]> scripts) {
    this.scripts = scripts;
    this.client = client;
    this.resources = resources;
    this.events = events;
    this.connection = connection;
    this.topologyLog = resources.eventBus().get()
        .filter(ClusterTopologyChangedEvent.class::isInstance)
        .cast(ClusterTopologyChangedEvent.class)
        .subscribe(this::onTopologyChange, error -> { });
  }

  static ClusterConnection open(Options options, String scheme) {
    List<RedisURI> seeds = seeds(options.uri(), scheme, options.connectTimeout());
    ClientResources resources = resources();
    RedisEventLog events = RedisEventLog.start(resources);
    RedisClusterClient client = RedisClusterClient.create(resources, seeds);
    client.setOptions(clientOptions(ClusterClientOptions.builder(), options)
        .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
            .enableAllAdaptiveRefreshTriggers()
            .adaptiveRefreshTriggersTimeout(Duration.ofSeconds(1))
            .enablePeriodicRefresh(options.topologyRefresh())
            .dynamicRefreshSources(true)
            .build())
        .build());
    try {
      StatefulRedisClusterConnection<byte[], byte[]> connection = client.connect(ByteArrayCodec.INSTANCE);
      return new ClusterConnection(client, resources, events, connection, options.scripts());
    } catch (RuntimeException e) {
      events.close();
      shutdown(client, resources);
      throw e;
    }
  }

  @Override
  RedisClusterAsyncCommands<byte[], byte[]> commands() {
    return connection.async();
  }

  @Override
  boolean cluster() {
    return true;
  }

  /** The node id of the master that owns the key's slot now. */
  @Override
  String nodeOf(byte[] redisKey) {
    RedisClusterNode node = connection.getPartitions().getMasterBySlot(SlotHash.getSlot(redisKey));
    return node == null ? "" : node.getNodeId();
  }

  @Override
  String name(String node) {
    RedisClusterNode known = connection.getPartitions().getPartitionByNodeId(node);
    return known == null ? "cluster node " + node : address(known);
  }

  /** True when any master answers {@code CLUSTER INFO} with {@code cluster_state:ok} in time. */
  @Override
  CompletionStage<Boolean> probe(Duration timeout) {
    List<CompletableFuture<Boolean>> answers = new ArrayList<>();
    for (RedisClusterNode node : connection.getPartitions()) {
      if (node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.is(RedisClusterNode.NodeFlag.FAIL)) {
        answers.add(connection.getConnectionAsync(node.getNodeId())
            .thenCompose(c -> c.async().clusterInfo())
            .handle((info, error) -> error == null && info.contains("cluster_state:ok"))
            .completeOnTimeout(false, timeout.toNanos(), TimeUnit.NANOSECONDS));
      }
    }
    return CompletableFuture.allOf(answers.toArray(new CompletableFuture<?>[0]))
        .thenApply(done -> answers.stream().anyMatch(CompletableFuture::join));
  }

  @Override
  void recheckTopology(String reason) {
    if (!client.isTopologyRefreshInProgress()) {
      client.refreshPartitionsAsync();
    }
  }

  @Override
  String describe() {
    return "cluster of " + masters(connection.getPartitions()) + " masters";
  }

  private void onTopologyChange(ClusterTopologyChangedEvent change) {
    Set<String> before = masterAddresses(change.before());
    Set<String> after = masterAddresses(change.after());
    if (!before.equals(after)) {
      followedFailover();
      log.warn("Redis Cluster masters are now {} (were {})", after, before);
      // A promoted replica has no scripts (SCRIPT LOAD is not replicated): load them now rather than on a NOSCRIPT.
      for (RedisClusterNode node : change.after()) {
        if (node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !before.contains(address(node))) {
          connection.getConnectionAsync(node.getUri().getHost(), node.getUri().getPort())
              .thenAccept(c -> scripts.forEach(script -> c.async().scriptLoad(script)));
        }
      }
    }
  }

  private static Set<String> masterAddresses(Iterable<RedisClusterNode> nodes) {
    Set<String> masters = new TreeSet<>();
    for (RedisClusterNode node : nodes) {
      if (node.is(RedisClusterNode.NodeFlag.UPSTREAM) && !node.getSlots().isEmpty()) {
        masters.add(address(node));
      }
    }
    return masters;
  }

  private static int masters(Iterable<RedisClusterNode> nodes) {
    return masterAddresses(nodes).size();
  }

  private static String address(RedisClusterNode node) {
    return node.getUri().getHost() + ":" + node.getUri().getPort();
  }

  /** {@code redis-cluster://[user:pass@]h1:p1,h2:p2[/db][?query]} as one standalone URI per seed node. */
  private static List<RedisURI> seeds(String uri, String scheme, Duration timeout) {
    String rest = uri.substring(scheme.length() + 3);
    int at = rest.lastIndexOf('@');
    String credentials = at < 0 ? "" : rest.substring(0, at + 1);
    String hostsAndTail = rest.substring(at + 1);
    int end = hostsAndTail.length();
    for (char c : new char[] {'/', '?', '#'}) {
      int i = hostsAndTail.indexOf(c);
      if (i >= 0) {
        end = Math.min(end, i);
      }
    }
    String tail = hostsAndTail.substring(end);
    String single = scheme.startsWith("rediss") ? "rediss://" : "redis://";
    List<RedisURI> seeds = new ArrayList<>();
    for (String host : hostsAndTail.substring(0, end).split(",")) {
      if (host.isBlank()) {
        continue;
      }
      RedisURI seed = parse(single + credentials + host.trim() + tail);
      seed.setTimeout(timeout);
      seeds.add(seed);
    }
    if (seeds.isEmpty()) {
      throw new IllegalArgumentException("the Redis Cluster URI '" + uri + "' names no node");
    }
    return seeds;
  }

  @Override
  public void close() {
    events.close(); // closing on purpose is no outage
    topologyLog.dispose();
    try {
      connection.close();
    } finally {
      shutdown(client, resources);
    }
  }
}
