package dev.ratelimit.auth;

import dev.ratelimit.policy.ConfigException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The API keys file, re-read when its content changes: a daemon thread compares the file's SHA-256 every check
 * interval (which also follows a Kubernetes Secret's symlink swap). A changed, valid file replaces the running set in
 * one step; an invalid one is logged once with its file, line and field, counted, and the last good set keeps
 * answering.
 */
public final class ApiKeyFile implements Supplier<ApiKeys>, AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ApiKeyFile.class);

  private final Path path;
  private final Counter applied;
  private final Counter rejected;
  private volatile ApiKeys current;
  private String currentHash;
  private String rejectedHash;
  private ScheduledExecutorService poller;

  private ApiKeyFile(Path path, ApiKeys keys, String hash, MeterRegistry registry) {
    this.path = path;
    this.current = keys;
    this.currentHash = hash;
    this.applied = Counter.builder("ratelimit_api_keys_reloads")
        .description("API keys file reloads by result: applied, or rejected as invalid (the last good keys kept)")
        .tag("result", "applied").register(registry);
    this.rejected = Counter.builder("ratelimit_api_keys_reloads")
        .description("API keys file reloads by result: applied, or rejected as invalid (the last good keys kept)")
        .tag("result", "rejected").register(registry);
    Gauge.builder("ratelimit_api_keys", this, f -> f.current.size())
        .description("API keys in the running keys file")
        .register(registry);
  }

  /**
   * Reads the file (it must be valid at start) and checks it for changes every {@code checkInterval}.
   *
   * @throws ConfigException when the file cannot be read or is invalid
   */
  public static ApiKeyFile open(Path path, Duration checkInterval, MeterRegistry registry) throws ConfigException {
    Objects.requireNonNull(path, "path");
    String text = read(path);
    ApiKeyFile file = new ApiKeyFile(path, ApiKeys.parse(path.toString(), text), sha256(text), registry);
    file.poller = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-api-keys-watcher");
      t.setDaemon(true);
      return t;
    });
    long millis = Math.max(1, checkInterval.toMillis());
    file.poller.scheduleWithFixedDelay(file::reloadIfChanged, millis, millis, TimeUnit.MILLISECONDS);
    log.info("API keys: {} keys from {}, checked for changes every {}", file.current.size(), path, checkInterval);
    return file;
  }

  /** The keys in force. */
  @Override
  public ApiKeys get() {
    return current;
  }

  /** Re-reads the file if its text changed since the running or the last refused version; returns whether applied. */
  public synchronized boolean reloadIfChanged() {
    String text;
    try {
      text = read(path);
    } catch (ConfigException e) {
      return refuse("unreadable:" + e.getMessage(), e.getMessage());
    }
    String hash = sha256(text);
    if (hash.equals(currentHash) || hash.equals(rejectedHash)) {
      return false;
    }
    ApiKeys next;
    try {
      next = ApiKeys.parse(path.toString(), text);
    } catch (ConfigException e) {
      return refuse(hash, e.getMessage());
    }
    current = next;
    currentHash = hash;
    rejectedHash = null;
    applied.increment();
    log.info("API keys reloaded from {}: {} keys", path, next.size());
    return true;
  }

  private boolean refuse(String key, String error) {
    if (!key.equals(rejectedHash)) {
      rejectedHash = key;
      rejected.increment();
      log.error("API keys file change refused; the previous {} keys keep answering: {}", current.size(), error);
    }
    return false;
  }

  private static String read(Path path) throws ConfigException {
    try {
      return Files.readString(path, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new ConfigException(path + ": cannot read the API keys file: " + e);
    }
  }

  private static String sha256(String text) {
    try {
      return HexFormat.of().formatHex(
          MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK provides SHA-256", e);
    }
  }

  /** Stops checking the file. */
  @Override
  public void close() {
    if (poller != null) {
      poller.shutdownNow();
    }
  }
}
