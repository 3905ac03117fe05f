package dev.ratelimit.store.redis;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import io.lettuce.core.codec.ByteArrayCodec;
import io.lettuce.core.resource.ClientResources;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;

/** One Redis server ({@code redis://}, {@code rediss://}): one connection, reconnected by Lettuce when it drops. */
final class StandaloneConnection extends RedisConnection {
  private final RedisClient client;
  private final ClientResources resources;
  private final RedisEventLog events;
  private final StatefulRedisConnection<byte[], byte[]> connection;
  private final String address;

  private StandaloneConnection(RedisClient client, ClientResources resources, RedisEventLog events,
      StatefulRedisConnection<byte[], byte[]> connection, String address) {
    this.client = client;
    this.resources = resources;
    this.events = events;
    this.connection = connection;
    this.address = address;
  }

  static StandaloneConnection open(Options options, RedisURI uri) {
    uri.setTimeout(options.connectTimeout());
    ClientResources resources = resources();
    RedisEventLog events = RedisEventLog.start(resources);
    RedisClient client = RedisClient.create(resources, uri);
    client.setOptions(clientOptions(options));
    try {
      StatefulRedisConnection<byte[], byte[]> connection = client.connect(ByteArrayCodec.INSTANCE);
      return new StandaloneConnection(client, resources, events, connection, uri.getHost() + ":" + uri.getPort());
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
    return false;
  }

  @Override
  String nodeOf(byte[] redisKey) {
    return address;
  }

  @Override
  CompletionStage<Boolean> probe(Duration timeout) {
    return connection.async().ping().toCompletableFuture()
        .handle((pong, error) -> error == null)
        .completeOnTimeout(false, timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  @Override
  void recheckTopology(String reason) {
    // One server: nothing to follow; Lettuce reconnects by itself.
  }

  @Override
  String describe() {
    return "standalone " + address;
  }

  @Override
  public void close() {
    events.close(); // closing on purpose is no outage
    try {
      connection.close();
    } finally {
      shutdown(client, resources);
    }
  }
}
