package dev.ratelimit.store.redis;

import io.lettuce.core.event.Event;
import io.lettuce.core.event.connection.ConnectionActivatedEvent;
import io.lettuce.core.event.connection.ConnectionDeactivatedEvent;
import io.lettuce.core.resource.ClientResources;
import java.net.SocketAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.Disposable;

/**
 * One log line per change of a Redis connection's state (down, up again) instead of Lettuce's warning per reconnect
 * attempt, which {@code simplelogger.properties} silences. Listens on the client's event bus.
 */
final class RedisEventLog implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);

  /** A connection that lived shorter than this is not worth a line (topology refresh, a connection being checked). */
  private static final long SETTLED_NANOS = TimeUnit.SECONDS.toNanos(1);

  /** Open channels per remote address: the main connection, plus short-lived ones (Cluster topology refresh). */
  private final Map<String, Integer> open = new ConcurrentHashMap<>();
  /** Since when (nanoTime) each address has had a channel open. */
  private final Map<String, Long> openSince = new ConcurrentHashMap<>();
  private final Map<String, Boolean> down = new ConcurrentHashMap<>();
  private final Map<String, Boolean> retired = new ConcurrentHashMap<>();
  private volatile Disposable subscription;

  private RedisEventLog() {}

  /** Starts logging the connection events of {@code resources}' clients. */
  static RedisEventLog start(ClientResources resources) {
    RedisEventLog events = new RedisEventLog();
    events.subscription = resources.eventBus().get().subscribe(events::on, error -> { });
    return events;
  }

  /** Connections to {@code address} are being closed on purpose (e.g. to a demoted master): not worth a warning. */
  void retire(String address) {
    retired.put(address, Boolean.TRUE);
  }

  private void on(Event event) {
    if (event instanceof ConnectionActivatedEvent activated) {
      String address = address(activated.remoteAddress());
      if (open.merge(address, 1, Integer::sum) == 1) {
        openSince.put(address, System.nanoTime());
      }
      retired.remove(address);
      if (down.remove(address) != null) {
        log.info("Redis at {} is reachable again", address);
      }
    } else if (event instanceof ConnectionDeactivatedEvent deactivated) {
      String address = address(deactivated.remoteAddress());
      Integer left = open.merge(address, -1, (a, b) -> a + b <= 0 ? null : a + b);
      Long since = left == null ? openSince.remove(address) : null;
      boolean settled = since != null && System.nanoTime() - since >= SETTLED_NANOS;
      if (left == null && retired.remove(address) == null && settled && down.put(address, Boolean.TRUE) == null) {
        log.warn("lost every connection to Redis at {}; reconnecting in the background", address);
      }
    }
  }

  /** {@code host:port} of a socket address ({@code /127.0.0.1:6379} becomes {@code 127.0.0.1:6379}). */
  static String address(SocketAddress address) {
    String text = String.valueOf(address);
    int slash = text.indexOf('/');
    return slash >= 0 ? text.substring(slash + 1) : text;
  }

  @Override
  public void close() {
    Disposable s = subscription;
    if (s != null) {
      s.dispose();
    }
  }
}
