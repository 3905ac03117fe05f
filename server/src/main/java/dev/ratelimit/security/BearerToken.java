package dev.ratelimit.security;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The admin bearer token, read from a file and re-read when the file changes (a rotated Kubernetes Secret swaps the
 * file for a new one), so a new token applies without a restart. Presented tokens are compared in constant time, by
 * their SHA-256 digests, so neither the content nor the length of the token leaks through timing.
 *
 * <p>The file holds the token on one line; surrounding whitespace (the trailing newline of {@code echo} or
 * {@code kubectl create secret --from-file}) is ignored. A file that becomes empty or unreadable after start keeps the
 * last good token in force and is reported in the log.
 */
public final class BearerToken {
  private static final Logger log = LoggerFactory.getLogger(BearerToken.class);
  /** Re-read at least this often, for file systems whose timestamps are too coarse to show a same-size rewrite. */
  private static final long MAX_AGE_NANOS = Duration.ofSeconds(10).toNanos();
  private static final String SCHEME = "bearer ";

  private final Path file;
  private volatile Loaded loaded;
  private volatile String problem;

  /** What was read, and the file's attributes when it was read. */
  private record Loaded(byte[] digest, Object fileKey, long modifiedNanos, long size, long readAtNanos) {}

  private BearerToken(Path file, Loaded loaded) {
    this.file = file;
    this.loaded = loaded;
  }

  /** Reads the token now; fails when the file cannot be read, is empty, or holds more than one line. */
  public static BearerToken open(Path file) throws IOException {
    Objects.requireNonNull(file, "file");
    return new BearerToken(file, read(file));
  }

  /** The file the token is read from. */
  public Path file() {
    return file;
  }

  /**
   * True when {@code authorization} (an HTTP {@code Authorization} header or gRPC {@code authorization} metadata
   * value) is {@code Bearer <the current token>}; false for null, another scheme or another token.
   */
  public boolean accepts(String authorization) {
    if (authorization == null || authorization.length() <= SCHEME.length()
        || !authorization.substring(0, SCHEME.length()).toLowerCase(Locale.ROOT).equals(SCHEME)) {
      return false;
    }
    byte[] presented = sha256(authorization.substring(SCHEME.length()).trim());
    return MessageDigest.isEqual(current().digest(), presented);
  }

  /** The token in force: re-read first when the file changed or was last read more than 10 s ago. */
  private Loaded current() {
    Loaded now = loaded;
    try {
      BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
      if (Objects.equals(attributes.fileKey(), now.fileKey())
          && modifiedNanos(attributes) == now.modifiedNanos()
          && attributes.size() == now.size()
          && System.nanoTime() - now.readAtNanos() < MAX_AGE_NANOS) {
        return now;
      }
      return refresh(now);
    } catch (IOException e) {
      return keep(now, e.getMessage());
    }
  }

  private synchronized Loaded refresh(Loaded seen) {
    if (loaded != seen) {
      return loaded; // another thread has just re-read it
    }
    try {
      Loaded fresh = read(file);
      if (!MessageDigest.isEqual(fresh.digest(), seen.digest())) {
        log.info("admin token file {} changed: the new token applies now", file);
      }
      loaded = fresh;
      problem = null;
      return fresh;
    } catch (IOException e) {
      return keep(seen, e.getMessage());
    }
  }

  /** Keeps {@code last} in force, logging each new problem once rather than on every request. */
  private Loaded keep(Loaded last, String newProblem) {
    if (!Objects.equals(problem, newProblem)) {
      problem = newProblem;
      log.warn("cannot re-read the admin token ({}); the previous token stays in force", newProblem);
    }
    return last;
  }

  private static Loaded read(Path file) throws IOException {
    BasicFileAttributes attributes;
    String token;
    try {
      attributes = Files.readAttributes(file, BasicFileAttributes.class);
      token = Files.readString(file, StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      throw new IOException("cannot read the admin token file " + file + ": " + e.getMessage(), e);
    }
    if (token.isEmpty()) {
      throw new IOException("the admin token file " + file + " is empty; put a long random token in it, e.g. "
          + "openssl rand -hex 32");
    }
    if (token.chars().anyMatch(c -> Character.isWhitespace(c) || Character.isISOControl(c))) {
      throw new IOException("the admin token in " + file + " must be one line without spaces");
    }
    return new Loaded(sha256(token), attributes.fileKey(), modifiedNanos(attributes), attributes.size(),
        System.nanoTime());
  }

  private static long modifiedNanos(BasicFileAttributes attributes) {
    var modified = attributes.lastModifiedTime().toInstant();
    return modified.getEpochSecond() * 1_000_000_000L + modified.getNano();
  }

  private static byte[] sha256(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK has SHA-256", e);
    }
  }
}
