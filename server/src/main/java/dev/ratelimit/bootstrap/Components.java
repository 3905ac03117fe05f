package dev.ratelimit.bootstrap;

import java.util.ArrayDeque;
import java.util.Deque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the server has started, each with how to stop it, stopped in reverse order of start. A stop that fails is
 * logged and the others still run, so one broken part never leaves the store unclosed.
 */
final class Components implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Components.class);

  /** Stopping one component. */
  interface Stop {
    void stop() throws Exception;
  }

  private record Started(String name, Stop stop) {}

  private final Deque<Started> started = new ArrayDeque<>();

  /** Registers {@code component}, stopped by its {@code close}; returns it. */
  <T extends AutoCloseable> T add(String name, T component) {
    started.push(new Started(name, component::close));
    return component;
  }

  /** Registers how to stop something started outside an {@link AutoCloseable}. */
  void onStop(String name, Stop stop) {
    started.push(new Started(name, stop));
  }

  /** Stops everything registered, the last started first. */
  @Override
  public synchronized void close() {
    while (!started.isEmpty()) {
      Started next = started.pop();
      try {
        next.stop().stop();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        log.warn("interrupted while stopping {}", next.name());
      } catch (Exception e) {
        log.warn("stopping {} failed: {}", next.name(), e.toString());
      }
    }
  }
}
