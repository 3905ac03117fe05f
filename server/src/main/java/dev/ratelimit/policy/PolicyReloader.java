package dev.ratelimit.policy;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.Collections;
import java.util.HexFormat;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Re-reads the policy and, when it is valid, swaps it into the {@link PolicyHolder} in one step: calls in flight
 * finish on the policy they started with, and counters of rules whose algorithm geometry did not change carry over
 * (store keys embed the geometry, not the limit). An invalid policy is refused, logged with its file, line and field,
 * counted, and the running one stays. Thread-safe: reloads are serialized.
 */
public final class PolicyReloader {
  private static final Logger log = LoggerFactory.getLogger(PolicyReloader.class);

  /** How one reload attempt ended. */
  public enum Status {
    /** The new policy is running. */
    APPLIED,
    /** The policy text is the one already running; nothing was swapped. */
    UNCHANGED,
    /** The new policy is invalid; the previous one keeps running. */
    REJECTED
  }

  /**
   * The outcome of a reload.
   *
   * @param status what happened
   * @param diff the rules added, removed and changed (empty unless applied)
   * @param error why the policy was refused (file, line, field), null unless rejected
   */
  public record Result(Status status, PolicyDiff diff, String error) {
    /** One line for logs and the admin answer. */
    public String describe() {
      return switch (status) {
        case APPLIED -> "applied: " + diff.summary();
        case UNCHANGED -> "unchanged: the policy files are the ones already running";
        case REJECTED -> "rejected, the previous policy keeps running: " + error;
      };
    }
  }

  /**
   * The running policy as loaded.
   *
   * @param location the file or directory, or {@code null} for the embedded default policy
   * @param sources each file's text by name
   * @param sha256 the hash of all sources, which the watcher compares
   * @param loadedAt when it was applied
   * @param index the parsed policy
   */
  public record Snapshot(Path location, Map<String, String> sources, String sha256, Instant loadedAt,
      PolicyIndex index) {
    public Snapshot {
      sources = Collections.unmodifiableSortedMap(new TreeMap<>(sources));
    }
  }

  private final Path location;
  private final PolicyLoader loader;
  private final PolicyHolder holder;
  private final Clock clock;
  private final Counter applied;
  private final Counter rejected;
  private volatile Snapshot current;
  /** Hash of the last refused text, so the watcher does not log and count the same broken file again and again. */
  private String rejectedSha256;

  /**
   * @param location policy file or directory, or null for the embedded default policy (which never changes)
   * @param initialSources the texts the running policy in {@code holder} was parsed from
   */
  public PolicyReloader(Path location, PolicyLoader loader, PolicyHolder holder, Map<String, String> initialSources,
      Clock clock, MeterRegistry registry) {
    this.location = location;
    this.loader = Objects.requireNonNull(loader, "loader");
    this.holder = Objects.requireNonNull(holder, "holder");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.current = new Snapshot(location, initialSources, sha256(initialSources), clock.instant(),
        holder.get());
    this.applied = Counter.builder("ratelimit_config_reloads")
        .description("Policy reloads by result: applied, or rejected as invalid (the previous policy kept running)")
        .tag("result", "applied")
        .register(registry);
    this.rejected = Counter.builder("ratelimit_config_reloads")
        .description("Policy reloads by result: applied, or rejected as invalid (the previous policy kept running)")
        .tag("result", "rejected")
        .register(registry);
    Gauge.builder("ratelimit_config_last_applied_timestamp_seconds", this,
            r -> r.current.loadedAt().toEpochMilli() / 1000.0)
        .description("When the running policy was loaded (Unix seconds)")
        .register(registry);
    Gauge.builder("ratelimit_config_rules", this,
            r -> r.current.index().domains().stream().mapToInt(d -> d.rulesById().size()).sum())
        .description("Rules in the running policy")
        .register(registry);
  }

  /** The running policy and its source texts. */
  public Snapshot current() {
    return current;
  }

  /** The watched file or directory, or null for the embedded default policy. */
  public Path location() {
    return location;
  }

  /**
   * Reloads now (e.g. {@code POST /reload}): reads and validates the files, and applies them unless their text is the
   * running one.
   */
  public synchronized Result reload(String trigger) {
    return reload(trigger, false);
  }

  /**
   * Reloads if the files' text differs from the running policy and from the last refused text (file watcher and the
   * periodic check): a broken file is reported once, not at every check.
   */
  public synchronized Result reloadIfChanged(String trigger) {
    return reload(trigger, true);
  }

  private Result reload(String trigger, boolean skipKnownBad) {
    Map<String, String> sources;
    try {
      sources = location == null ? loader.readDefault() : loader.read(location);
    } catch (ConfigException e) {
      return reject(trigger, null, e.getMessage(), skipKnownBad);
    }
    String hash = sha256(sources);
    if (hash.equals(current.sha256())) {
      rejectedSha256 = null;
      return new Result(Status.UNCHANGED, PolicyDiff.between(current.index(), current.index()), null);
    }
    if (skipKnownBad && hash.equals(rejectedSha256)) {
      return new Result(Status.REJECTED, PolicyDiff.between(current.index(), current.index()), "unchanged since "
          + "it was refused");
    }
    PolicyIndex next;
    try {
      next = loader.parse(sources);
    } catch (ConfigException e) {
      return reject(trigger, hash, e.getMessage(), false);
    }
    PolicyDiff diff = PolicyDiff.between(current.index(), next);
    holder.replace(next);
    current = new Snapshot(location, sources, hash, clock.instant(), next);
    rejectedSha256 = null;
    applied.increment();
    log.info("policy reloaded ({}) from {}: {}", trigger, describeLocation(), diff.summary());
    return new Result(Status.APPLIED, diff, null);
  }

  private Result reject(String trigger, String hash, String error, boolean quietIfKnown) {
    String key = hash == null ? "unreadable:" + error : hash;
    boolean known = key.equals(rejectedSha256);
    rejectedSha256 = key;
    if (!(quietIfKnown && known)) {
      rejected.increment();
      log.warn("policy change refused ({}); the previous policy keeps running: {}", trigger, error);
    }
    return new Result(Status.REJECTED, PolicyDiff.between(current.index(), current.index()), error);
  }

  private String describeLocation() {
    return location == null ? "the embedded default policy" : location.toString();
  }

  /** SHA-256 over the sources in name order, each name and text length-delimited. */
  static String sha256(Map<String, String> sources) {
    MessageDigest digest;
    try {
      digest = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK provides SHA-256", e);
    }
    for (Map.Entry<String, String> e : new TreeMap<>(sources).entrySet()) {
      for (String part : new String[] {e.getKey(), e.getValue()}) {
        byte[] bytes = part.getBytes(StandardCharsets.UTF_8);
        digest.update(Integer.toString(bytes.length).getBytes(StandardCharsets.US_ASCII));
        digest.update((byte) ':');
        digest.update(bytes);
      }
    }
    return HexFormat.of().formatHex(digest.digest());
  }
}
