package dev.ratelimit.store.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.sentinel.api.StatefulRedisSentinelConnection;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The master that Redis Sentinel names ({@code redis-sentinel://s1:26379,s2:26379#name}), followed across failovers
 * whatever the old master does:
 *
 * <ul>
 *   <li>subscribed on every Sentinel to the promotion of a replica ({@code +failover-state-send-slaveof-noone},
 *       {@code +promoted-slave}) and to {@code +switch-master}: the new master is connected to and checked to be a
 *       master ({@code INFO replication}) as soon as it is one, and decisions move to it at once. Moving at the
 *       promotion rather than at {@code +switch-master} (about a second later) shortens the window in which hits
 *       counted on the old master are lost;
 *   <li>a run of failed calls, or an answer only a demoted master gives ({@code READONLY}), asks the Sentinels again;
 *   <li>and so does a periodic check (the topology refresh period), which also catches announcements missed while a
 *       Sentinel was unreachable.
 * </ul>
 *
 * The connection to the old master is closed when decisions move, so nothing is written to it afterwards, frozen or
 * not. Blocking work (asking Sentinels, connecting) runs on a thread of its own, never on a request's.
 *
 * <p>Over 250 lines because following a failover is one state machine (announcements, failed calls, periodic
 * checks, moving and closing connections) that reads best in one place.
 */
final class SentinelConnection extends RedisConnection {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);
  private static final String SWITCH_MASTER = "+switch-master";
  private static final String ANNOUNCED = "Sentinel announced ";
  /** Sentinel is promoting a replica (it sent {@code REPLICAOF NO ONE}): the earliest sign of the new master. */
  private static final String PROMOTING = "+failover-state-send-slaveof-noone";
  /** Sentinel saw the replica report itself master. */
  private static final String PROMOTED = "+promoted-slave";
  /** How long an early sign waits for its replica to report itself master. */
  private static final long PROMOTION_PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(3);
  /**
   * After moving to a promoted replica on Sentinel's announcement, how long a recheck may not move back to the old
   * master: Sentinels keep naming it until the failover ends ({@code +switch-master}), and once woken it still says
   * it is a master until Sentinel demotes it. Only an announcement ends this early.
   */
  private static final long LEFT_BEHIND_NANOS = TimeUnit.SECONDS.toNanos(30);

  /** The master in use: its address and connection. */
  private record Master(String address, StatefulRedisConnection<byte[], byte[]> connection) {}

  private final RedisClient client;
  private final ClientResources resources;
  private final RedisEventLog events;
  private final Options options;
  private final RedisURI template;
  private final String masterName;
  private final ExecutorService worker;
  private final Map<String, StatefulRedisSentinelConnection<String, String>> sentinels = new ConcurrentHashMap<>();
  private final Map<String, StatefulRedisPubSubConnection<String, String>> subscriptions = new ConcurrentHashMap<>();
  private final AtomicBoolean recheckPending = new AtomicBoolean();
  private volatile Master master;
  /** The master left on an announcement, and until when (nanoTime) a recheck may not return to it. */
  private String leftBehind = "";
  private long leftBehindUntil;
  private volatile boolean closed;
  private ScheduledFuture<?> periodic;

  private SentinelConnection(RedisClient client, ClientResources resources, RedisEventLog events, Options options,
      RedisURI template) {
    this.client = client;
    this.resources = resources;
    this.events = events;
    this.options = options;
    this.template = template;
    this.masterName = template.getSentinelMasterId();
    this.worker = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-redis-sentinel");
      t.setDaemon(true);
      return t;
    });
  }

  static SentinelConnection open(Options options, RedisURI uri, ScheduledExecutorService monitor) {
    if (uri.getSentinelMasterId() == null || uri.getSentinelMasterId().isBlank()) {
      throw new IllegalArgumentException("the Sentinel URI '" + options.uri() + "' names no master; add #mastername");
    }
    ClientResources resources = resources();
    RedisEventLog events = RedisEventLog.start(resources);
    RedisClient client = RedisClient.create(resources);
    client.setOptions(clientOptions(options));
    SentinelConnection connection = new SentinelConnection(client, resources, events, options, uri);
    try {
      String address = connection.askSentinels();
      if (address == null) {
        throw new RedisConnectionException("no Sentinel of " + options.uri() + " names a master '"
            + connection.masterName + "'");
      }
      connection.master = new Master(address, connection.connectMaster(address, 0));
      connection.subscribe();
      long period = options.topologyRefresh().toNanos();
      connection.periodic = monitor.scheduleWithFixedDelay(() -> connection.recheckTopology("periodic check"),
          period, period, TimeUnit.NANOSECONDS);
      return connection;
    } catch (RuntimeException e) {
      connection.close();
      throw e;
    }
  }

  @Override
  RedisClusterAsyncCommands<byte[], byte[]> commands() {
    return master.connection().async();
  }

  @Override
  boolean cluster() {
    return false;
  }

  @Override
  String nodeOf(byte[] redisKey) {
    return master.address();
  }

  @Override
  CompletionStage<Boolean> probe(Duration timeout) {
    return master.connection().async().ping().toCompletableFuture()
        .handle((pong, error) -> error == null)
        .completeOnTimeout(false, timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** Asks the Sentinels who the master is and moves to it if it changed; one check at a time, off the caller. */
  @Override
  void recheckTopology(String reason) {
    if (closed || !recheckPending.compareAndSet(false, true)) {
      return;
    }
    long start = System.nanoTime();
    worker.execute(() -> {
      recheckPending.set(false);
      subscribe(); // Sentinels unreachable so far
      String address = askSentinels();
      boolean returnsToLeftBehind = System.nanoTime() - leftBehindUntil < 0 && address != null
          && address.equals(leftBehind);
      if (address != null && !returnsToLeftBehind) {
        follow(address, reason, start, 0);
      }
    });
  }

  @Override
  boolean inUse(String node) {
    return master.address().equals(node);
  }

  @Override
  String describe() {
    return "Sentinel master '" + masterName + "' at " + master.address();
  }

  /** The address most Sentinels name for the master (the first one's on a tie), or null when none answers. */
  private String askSentinels() {
    Map<String, Integer> votes = new HashMap<>();
    String first = null;
    for (RedisURI sentinelUri : template.getSentinels()) {
      try {
        SocketAddress answer = sentinel(sentinelUri).async().getMasterAddrByName(masterName)
            .get(sentinelTimeout().toMillis(), TimeUnit.MILLISECONDS);
        if (answer instanceof InetSocketAddress inet) {
          String address = inet.getHostString() + ":" + inet.getPort();
          votes.merge(address, 1, Integer::sum);
          first = first == null ? address : first;
        }
      } catch (Exception unreachable) {
        // another Sentinel may answer; a Sentinel down is not the master down
        if (unreachable instanceof InterruptedException) {
          Thread.currentThread().interrupt();
          return null;
        }
      }
    }
    String best = first;
    for (Map.Entry<String, Integer> vote : votes.entrySet()) {
      if (vote.getValue() > votes.get(best)) {
        best = vote.getKey();
      }
    }
    return best;
  }

  private StatefulRedisSentinelConnection<String, String> sentinel(RedisURI sentinelUri) {
    String key = sentinelUri.getHost() + ":" + sentinelUri.getPort();
    StatefulRedisSentinelConnection<String, String> existing = sentinels.get(key);
    if (existing != null) {
      return existing;
    }
    sentinelUri.setTimeout(sentinelTimeout());
    StatefulRedisSentinelConnection<String, String> created = client.connectSentinel(StringCodec.UTF8, sentinelUri);
    sentinels.put(key, created);
    return created;
  }

  private Duration sentinelTimeout() {
    return options.connectTimeout().compareTo(Duration.ofSeconds(1)) < 0 ? options.connectTimeout()
        : Duration.ofSeconds(1);
  }

  /** Subscribes to {@code +switch-master} on each Sentinel not yet subscribed to. */
  private void subscribe() {
    for (RedisURI sentinelUri : template.getSentinels()) {
      String key = sentinelUri.getHost() + ":" + sentinelUri.getPort();
      if (closed || subscriptions.containsKey(key)) {
        continue;
      }
      try {
        sentinelUri.setTimeout(sentinelTimeout());
        StatefulRedisPubSubConnection<String, String> pubSub = client.connectPubSub(StringCodec.UTF8, sentinelUri);
        pubSub.addListener(new RedisPubSubAdapter<>() {
          @Override
          public void message(String channel, String message) {
            onAnnouncement(channel, message);
          }
        });
        pubSub.sync().subscribe(SWITCH_MASTER, PROMOTING, PROMOTED);
        subscriptions.put(key, pubSub);
      } catch (RuntimeException unreachable) {
        // retried by the next check; the other Sentinels announce the switch too
      }
    }
  }

  /**
   * {@code +switch-master <name> <old ip> <old port> <new ip> <new port>}, or a promotion:
   * {@code <+failover-state-send-slaveof-noone|+promoted-slave> slave <ip:port> <ip> <port> @ <name> <ip> <port>}.
   */
  private void onAnnouncement(String channel, String message) {
    String[] parts = message.split(" ");
    String address;
    long patience;
    if (channel.equals(SWITCH_MASTER) && parts.length == 5 && parts[0].equals(masterName)) {
      address = parts[3] + ":" + parts[4];
      patience = 0;
    } else if (parts.length == 8 && parts[0].equals("slave") && parts[4].equals("@") && parts[5].equals(masterName)) {
      address = parts[2] + ":" + parts[3];
      patience = PROMOTION_PATIENCE_NANOS;
    } else {
      return;
    }
    long start = System.nanoTime();
    if (!closed) {
      worker.execute(() -> follow(address, ANNOUNCED + channel, start, patience));
    }
  }

  /**
   * Moves decisions to the master at {@code address} unless they are there already, waiting up to {@code patience}
   * nanoseconds for it to report itself master (a replica being promoted).
   */
  private void follow(String address, String reason, long since, long patience) {
    Master current = master;
    if (closed || current.address().equals(address)) {
      return;
    }
    StatefulRedisConnection<byte[], byte[]> connection;
    try {
      connection = connectMaster(address, patience);
    } catch (RuntimeException e) {
      log.warn("Redis master '{}' is now {} per Sentinel, but it cannot be used yet ({}); retrying", masterName,
          address, e.getMessage());
      return;
    }
    master = new Master(address, connection);
    if (reason.startsWith(ANNOUNCED)) {
      leftBehind = current.address();
      leftBehindUntil = System.nanoTime() + LEFT_BEHIND_NANOS;
    }
    events.retire(current.address());
    current.connection().closeAsync();
    followedFailover();
    log.warn("Redis failover followed: master '{}' is now {} (was {}), decisions moved {} ms after: {}", masterName,
        address, current.address(), (System.nanoTime() - since) / 1_000_000, reason);
  }

  /**
   * Connects to {@code address} with the URI's credentials, database and TLS, checks that it is a master and loads
   * the scripts, trying again for up to {@code patience} nanoseconds (a replica being promoted is a master moments
   * later, and Sentinel closes every client connection of it while promoting it).
   */
  private StatefulRedisConnection<byte[], byte[]> connectMaster(String address, long patience) {
    long giveUp = System.nanoTime() + patience;
    while (true) {
      try {
        return connectMasterOnce(address);
      } catch (RedisConnectionException e) {
        if (closed || System.nanoTime() - giveUp >= 0) {
          throw e;
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
          throw e;
        }
      }
    }
  }

  private StatefulRedisConnection<byte[], byte[]> connectMasterOnce(String address) {
    int colon = address.lastIndexOf(':');
    RedisURI uri = RedisURI.Builder.redis(address.substring(0, colon), Integer.parseInt(address.substring(colon + 1)))
        .withAuthentication(template)
        .withSsl(template)
        .withDatabase(template.getDatabase())
        .withTimeout(options.connectTimeout())
        .build();
    StatefulRedisConnection<byte[], byte[]> connection = client.connect(ByteArrayCodec.INSTANCE, uri);
    try {
      String replication = connection.async().info("replication")
          .get(options.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
      if (!replication.contains("role:master")) {
        throw new RedisConnectionException("Redis at " + address + " is not a master (yet)");
      }
      for (byte[] script : options.scripts()) {
        connection.async().scriptLoad(script).get(options.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
      }
      return connection;
    } catch (RedisConnectionException e) {
      connection.closeAsync();
      throw e;
    } catch (Exception e) {
      connection.closeAsync();
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      throw new RedisConnectionException("Redis at " + address + " did not answer: " + e, e);
    }
  }

  @Override
  public void close() {
    closed = true;
    events.close(); // closing on purpose is no outage
    if (periodic != null) {
      periodic.cancel(false);
    }
    worker.shutdownNow();
    try {
      worker.awaitTermination(2, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    shutdown(client, resources); // closes every connection of the client, to the master and to the Sentinels
  }
}
