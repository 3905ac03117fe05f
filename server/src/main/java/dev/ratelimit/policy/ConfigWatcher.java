package dev.ratelimit.policy;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies policy changes on disk without a restart. A {@link WatchService} on the policy's directory (the directory
 * itself, or a file's parent) reports edits within moments; after events stop for a short settle time the files are
 * re-read. Because a Kubernetes ConfigMap update swaps a {@code ..data} symlink that a watch does not always report,
 * the files' content hash is also checked every {@code checkInterval}. Either way {@link
 * PolicyReloader#reloadIfChanged} applies only a changed, valid text. One daemon thread.
 */
public final class ConfigWatcher implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ConfigWatcher.class);

  private final PolicyReloader reloader;
  private final Path directory;
  private final long checkIntervalMillis;
  private final long settleMillis;
  private final WatchService watchService;
  private final Thread thread;
  private WatchKey key;
  private volatile boolean running = true;

  private ConfigWatcher(PolicyReloader reloader, Duration checkInterval, Duration settle) throws IOException {
    this.reloader = reloader;
    Path location = Objects.requireNonNull(reloader.location(), "a watched policy needs a file or directory");
    this.directory = Files.isDirectory(location) ? location : location.toAbsolutePath().getParent();
    this.checkIntervalMillis = Math.max(1, checkInterval.toMillis());
    this.settleMillis = Math.max(0, settle.toMillis());
    this.watchService = FileSystems.getDefault().newWatchService();
    this.thread = new Thread(this::run, "ratelimit-config-watcher");
    this.thread.setDaemon(true);
  }

  /**
   * Starts watching {@code reloader}'s location.
   *
   * @param checkInterval how often the content hash is compared even without a file event
   * @param settle how long events must stop before the files are read (an editor writes in several steps)
   */
  public static ConfigWatcher start(PolicyReloader reloader, Duration checkInterval, Duration settle)
      throws IOException {
    ConfigWatcher watcher = new ConfigWatcher(reloader, checkInterval, settle);
    watcher.register();
    watcher.thread.start();
    return watcher;
  }

  private void register() {
    try {
      key = directory.register(watchService, StandardWatchEventKinds.ENTRY_CREATE,
          StandardWatchEventKinds.ENTRY_MODIFY, StandardWatchEventKinds.ENTRY_DELETE);
    } catch (IOException | RuntimeException e) {
      key = null;
      log.warn("cannot watch {} ({}); changes are picked up by the periodic check only", directory, e.toString());
    }
  }

  private void run() {
    while (running) {
      try {
        WatchKey signalled = watchService.poll(checkIntervalMillis, TimeUnit.MILLISECONDS);
        String trigger = "periodic check";
        if (signalled != null) {
          trigger = "file change";
          drain(signalled);
          // Wait until the writer is done: read only after no event arrived for the settle time.
          while ((signalled = watchService.poll(settleMillis, TimeUnit.MILLISECONDS)) != null) {
            drain(signalled);
          }
        }
        if (key == null || !key.isValid()) {
          register(); // the directory was replaced; watch the new one
        }
        reloader.reloadIfChanged(trigger);
      } catch (InterruptedException | ClosedWatchServiceException e) {
        return;
      } catch (RuntimeException e) {
        log.warn("policy check failed: {}", e.toString());
      }
    }
  }

  private static void drain(WatchKey signalled) {
    signalled.pollEvents();
    signalled.reset();
  }

  /** Stops watching; waits for a reload in progress to finish. */
  @Override
  public void close() {
    running = false;
    try {
      watchService.close();
    } catch (IOException e) {
      log.debug("closing the watch service: {}", e.toString());
    }
    // No interrupt: closing the watch service wakes the thread, and an interrupt could abort a file read mid-reload.
    try {
      thread.join(TimeUnit.SECONDS.toMillis(5));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
