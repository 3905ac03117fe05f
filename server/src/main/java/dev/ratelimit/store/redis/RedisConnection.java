package dev.ratelimit.store.redis;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live connection to Redis standalone, Sentinel or Cluster, chosen once by the URI scheme:
 * {@code redis://} / {@code rediss://} ({@link StandaloneConnection}), {@code redis-sentinel://host:port[,...]#master}
 * ({@link SentinelConnection}: follows the master Sentinel names across failovers) and
 * {@code redis-cluster://host:port[,...]} / {@code rediss-cluster://} ({@link ClusterConnection}: follows the slots'
 * masters).
 *
 * <p>Configured for a rate limiter: commands fail at once while disconnected instead of queueing, commands in flight
 * when a connection drops are never replayed after it reconnects (they were answered by the failure mode already, and
 * replaying them would count hits twice), and reconnection retries quickly (10 ms doubling up to 1 s).
 *
 * <p><b>Following failovers.</b> The store reports each call's outcome per node ({@link #succeeded}, {@link #failed}).
 * A run of {@value #SUSPECT_AFTER} failures on one node, or an answer only a demoted master gives ({@code READONLY},
 * {@code MOVED}, {@code MASTERDOWN}), makes the connection {@link #suspect} it: Sentinel deployments re-resolve the
 * master, Cluster deployments refresh the topology, at most once per {@link #SUSPECT_INTERVAL_NANOS}.
 */
abstract class RedisConnection implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);
  /** Failed calls in a row on one node after which its role is checked again. */
  static final int SUSPECT_AFTER = 3;
  /** Suspicions are acted upon at most this often. */
  static final long SUSPECT_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(500);

  /**
   * What a connection needs to know: where, how long to wait, how often to look for topology changes, and the
   * scripts to load into a new master before decisions move to it (else its first calls pay a {@code NOSCRIPT}).
   */
  record Options(String uri, Duration timeout, Duration topologyRefresh, List<byte[]> scripts) {
    /** Connecting (TCP, TLS, HELLO/AUTH) gets at least 2 s: a cold JVM needs more than a command timeout. */
    Duration connectTimeout() {
      return timeout.compareTo(Duration.ofSeconds(2)) < 0 ? Duration.ofSeconds(2) : timeout;
    }
  }

  private final Map<String, AtomicInteger> failuresInARow = new ConcurrentHashMap<>();
  private final AtomicLong lastSuspicion = new AtomicLong(System.nanoTime() - SUSPECT_INTERVAL_NANOS);
  private final AtomicLong failoversFollowed = new AtomicLong();

  /**
   * Connects, or throws {@link io.lettuce.core.RedisException} when Redis cannot be reached now.
   *
   * @param monitor runs background work (failover following, probes); owned by the caller
   * @throws IllegalArgumentException when the URI is malformed
   */
  static RedisConnection open(Options options, ScheduledExecutorService monitor) {
    String scheme = scheme(options.uri());
    if (scheme.equals("redis-cluster") || scheme.equals("rediss-cluster")) {
      return ClusterConnection.open(options, scheme);
    }
    RedisURI uri = parse(options.uri());
    if (!uri.getSentinels().isEmpty()) {
      return SentinelConnection.open(options, uri, monitor);
    }
    return StandaloneConnection.open(options, uri);
  }

  /** Commands for any deployment; on a cluster, each is routed by its keys' slot. Read it per call: it may change. */
  abstract RedisClusterAsyncCommands<byte[], byte[]> commands();

  /** True on Redis Cluster, where one script call may only touch keys of one slot. */
  abstract boolean cluster();

  /** The node a call on {@code redisKey} goes to now: a name for per-node bookkeeping (clock, failures). */
  abstract String nodeOf(byte[] redisKey);

  /**
   * Whether this deployment can decide now, answered within {@code timeout}: the master answers (standalone,
   * Sentinel), the cluster reports {@code cluster_state:ok} (Cluster).
   */
  abstract CompletionStage<Boolean> probe(Duration timeout);

  /** Whether calls go to {@code node} now (a Sentinel master left behind is not). */
  boolean inUse(String node) {
    return true;
  }

  /** Checks again who the master is (Sentinel) or who owns the slots (Cluster); returns at once. */
  abstract void recheckTopology(String reason);

  /** What this is connected to, for logs. */
  abstract String describe();

  /** A call to {@code node} succeeded. */
  final void succeeded(String node) {
    AtomicInteger run = failuresInARow.get(node);
    if (run != null && run.get() != 0 && run.getAndSet(0) >= SUSPECT_AFTER) {
      log.info("Redis at {} answers again", name(node));
    }
  }

  /** A call to {@code node} failed with {@code cause}: may be the sign of a failover. */
  final void failed(String node, Throwable cause) {
    if (!inUse(node)) {
      return; // a call still in flight to a master already left behind
    }
    if (demoted(cause)) {
      suspect(node + " answered " + firstWord(cause.getMessage()));
      return;
    }
    int run = failuresInARow.computeIfAbsent(node, n -> new AtomicInteger()).incrementAndGet();
    if (run == SUSPECT_AFTER) {
      log.warn("Redis at {} failed {} calls in a row (last: {}); checking for a failover", name(node), run,
          String.valueOf(cause));
    }
    if (run >= SUSPECT_AFTER) {
      suspect(run + " calls in a row to " + name(node) + " failed");
    }
  }

  /** How a node is named in logs: its address, or its cluster node id. */
  String name(String node) {
    return node;
  }

  /** Rechecks the topology, at most once per interval. */
  final void suspect(String reason) {
    long now = System.nanoTime();
    long last = lastSuspicion.get();
    if (now - last >= SUSPECT_INTERVAL_NANOS && lastSuspicion.compareAndSet(last, now)) {
      recheckTopology(reason);
    }
  }

  /** Failovers this connection followed (a new master for the Sentinel name, or a slot's new master). */
  final long failoversFollowed() {
    return failoversFollowed.get();
  }

  final void followedFailover() {
    failoversFollowed.incrementAndGet();
  }

  /** Errors that only a node that is no longer (or not yet) the master answers. */
  private static boolean demoted(Throwable cause) {
    if (!(cause instanceof RedisCommandExecutionException)) {
      return false;
    }
    String word = firstWord(cause.getMessage());
    return word.equals("READONLY") || word.equals("MOVED") || word.equals("MASTERDOWN")
        || word.equals("CLUSTERDOWN") || word.equals("LOADING");
  }

  private static String firstWord(String message) {
    if (message == null) {
      return "";
    }
    int space = message.indexOf(' ');
    return space < 0 ? message : message.substring(0, space);
  }

  @Override
  public abstract void close();

  static ClientResources resources() {
    return ClientResources.builder()
        .reconnectDelay(Delay.exponential(Duration.ofMillis(10), Duration.ofSeconds(1), 2, TimeUnit.MILLISECONDS))
        .build();
  }

  static ClientOptions clientOptions(Options options) {
    return clientOptions(ClientOptions.builder(), options).build();
  }

  static <B extends ClientOptions.Builder> B clientOptions(B builder, Options options) {
    builder.autoReconnect(true)
        .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
        .replayFilter(command -> true)
        .socketOptions(SocketOptions.builder().connectTimeout(options.connectTimeout()).keepAlive(true).build())
        // Lettuce's own timeout only frees commands nobody waits for any more: the store waits at most its decision
        // timeout and cancels. Longer than that, so that a reply that arrived while the waiting thread was not yet
        // scheduled still counts as the answer; and start-up, role checks and probes are not cut short by it.
        .timeoutOptions(TimeoutOptions.enabled(options.connectTimeout()));
    return builder;
  }

  static String scheme(String uri) {
    int colon = uri.indexOf("://");
    if (colon <= 0) {
      throw new IllegalArgumentException("the Redis URI '" + uri + "' has no scheme; use redis://host:port, "
          + "redis-sentinel://host:port#master or redis-cluster://host:port,host:port");
    }
    return uri.substring(0, colon).toLowerCase(Locale.ROOT);
  }

  static RedisURI parse(String uri) {
    try {
      return RedisURI.create(uri);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid Redis URI '" + uri + "': " + e.getMessage(), e);
    }
  }

  static void shutdown(io.lettuce.core.AbstractRedisClient client, ClientResources resources) {
    client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
    // Resources passed in are not the client's to release.
    resources.shutdown(0, 2, TimeUnit.SECONDS);
  }
}
