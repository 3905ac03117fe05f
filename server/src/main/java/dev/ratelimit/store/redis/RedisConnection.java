package dev.ratelimit.store.redis;

import io.lettuce.core.AbstractRedisClient;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulConnection;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.ClusterClientOptions;
import io.lettuce.core.cluster.ClusterTopologyRefreshOptions;
import io.lettuce.core.cluster.RedisClusterClient;
import io.lettuce.core.cluster.api.StatefulRedisClusterConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * One Lettuce client and connection to Redis standalone, Sentinel or Cluster, chosen by the URI scheme:
 * {@code redis://} / {@code rediss://} (standalone), {@code redis-sentinel://host:port[,host:port...]#master} (the
 * master Sentinel names, followed across failovers) and {@code redis-cluster://host:port[,host:port...]} /
 * {@code rediss-cluster://} (Cluster; any reachable nodes, the rest are discovered).
 *
 * <p>Configured for a rate limiter: commands fail at once while disconnected instead of queueing, commands in flight
 * when a connection drops are never replayed after it reconnects (they were answered by the failure mode already, and
 * replaying them would count hits twice), and reconnection retries quickly (10 ms doubling up to 1 s).
 */
final class RedisConnection implements AutoCloseable {
  private final AbstractRedisClient client;
  private final ClientResources resources;
  private final StatefulConnection<byte[], byte[]> connection;
  private final RedisClusterAsyncCommands<byte[], byte[]> commands;
  private final boolean cluster;

  private RedisConnection(AbstractRedisClient client, ClientResources resources,
      StatefulConnection<byte[], byte[]> connection, RedisClusterAsyncCommands<byte[], byte[]> commands,
      boolean cluster) {
    this.client = client;
    this.resources = resources;
    this.connection = connection;
    this.commands = commands;
    this.cluster = cluster;
  }

  /**
   * Connects, or throws {@link io.lettuce.core.RedisException} when Redis cannot be reached now.
   *
   * @throws IllegalArgumentException when the URI is malformed
   */
  static RedisConnection open(String uri, Duration timeout) {
    // Connecting (TCP, TLS, HELLO/AUTH/PING) gets at least 2 s: a cold JVM needs more than a 50 ms command timeout.
    // Commands time out after {@code timeout} (TimeoutOptions) and RedisStore waits no longer than that anyway.
    Duration connectTimeout = timeout.compareTo(Duration.ofSeconds(2)) < 0 ? Duration.ofSeconds(2) : timeout;
    ClientResources resources = ClientResources.builder()
        .reconnectDelay(Delay.exponential(Duration.ofMillis(10), Duration.ofSeconds(1), 2, TimeUnit.MILLISECONDS))
        .build();
    String scheme = scheme(uri);
    if (scheme.equals("redis-cluster") || scheme.equals("rediss-cluster")) {
      List<RedisURI> seeds = clusterSeeds(uri, scheme, connectTimeout);
      RedisClusterClient client = RedisClusterClient.create(resources, seeds);
      client.setOptions(ClusterClientOptions.builder(options(connectTimeout, timeout))
          .topologyRefreshOptions(ClusterTopologyRefreshOptions.builder()
              .enableAllAdaptiveRefreshTriggers()
              .enablePeriodicRefresh(Duration.ofSeconds(30))
              .build())
          .build());
      try {
        StatefulRedisClusterConnection<byte[], byte[]> connection = client.connect(ByteArrayCodec.INSTANCE);
        return new RedisConnection(client, resources, connection, connection.async(), true);
      } catch (RuntimeException e) {
        shutdown(client, resources);
        throw e;
      }
    }
    RedisURI redisUri = parse(uri);
    redisUri.setTimeout(connectTimeout);
    RedisClient client = RedisClient.create(resources, redisUri);
    client.setOptions(options(connectTimeout, timeout));
    try {
      StatefulRedisConnection<byte[], byte[]> connection = client.connect(ByteArrayCodec.INSTANCE);
      return new RedisConnection(client, resources, connection, connection.async(), false);
    } catch (RuntimeException e) {
      shutdown(client, resources);
      throw e;
    }
  }

  private static ClientOptions options(Duration connectTimeout, Duration timeout) {
    return ClientOptions.builder()
        .autoReconnect(true)
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .replayFilter(command -> true)
        .socketOptions(SocketOptions.builder().connectTimeout(connectTimeout).keepAlive(true).build())
        .timeoutOptions(TimeoutOptions.enabled(timeout))
        .build();
  }

  private static String scheme(String uri) {
    int colon = uri.indexOf("://");
    if (colon <= 0) {
      throw new IllegalArgumentException("the Redis URI '" + uri + "' has no scheme; use redis://host:port, "
          + "redis-sentinel://host:port#master or redis-cluster://host:port,host:port");
    }
    return uri.substring(0, colon).toLowerCase(Locale.ROOT);
  }

  private static RedisURI parse(String uri) {
    try {
      return RedisURI.create(uri);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid Redis URI '" + uri + "': " + e.getMessage(), e);
    }
  }

  /** {@code redis-cluster://[user:pass@]h1:p1,h2:p2[/db][?query]} as one standalone URI per seed node. */
  private static List<RedisURI> clusterSeeds(String uri, String scheme, Duration timeout) {
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

  /** Commands for any deployment; on a cluster, each is routed by its keys' slot. */
  RedisClusterAsyncCommands<byte[], byte[]> commands() {
    return commands;
  }

  /** True on Redis Cluster, where one script call may only touch keys of one slot. */
  boolean cluster() {
    return cluster;
  }

  /** Whether the connection is up right now (Lettuce reconnects by itself when it is not). */
  boolean isOpen() {
    return connection.isOpen();
  }

  @Override
  public void close() {
    try {
      connection.close();
    } finally {
      shutdown(client, resources);
    }
  }

  private static void shutdown(AbstractRedisClient client, ClientResources resources) {
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    // Resources passed in are not the client's to release.
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }
}
