package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The Lua script ({@code ratelimit.lua}) that runs every algorithm of {@code dev.ratelimit.limiter} inside Redis, and
 * the encoding of its arguments. One call decides any number of keys atomically, in order.
 */
final class LuaScript {
  /** Larger integers are not exact in Lua's doubles; hits and limits beyond it are clamped (both far past any use). */
  static final long MAX_EXACT = 1L << 53;

  private static final byte[] REDIS_TIME = new byte[0];
  private static final byte[] SLIDING_WINDOW = ascii("sliding_window");

  private final byte[] source;
  private final String sha1;

  private LuaScript(byte[] source) {
    this.source = source;
    this.sha1 = sha1Hex(source);
  }

  /** Loads the script from the class path. */
  static LuaScript load() {
    try (InputStream in = LuaScript.class.getResourceAsStream("ratelimit.lua")) {
      if (in == null) {
        throw new IllegalStateException("ratelimit.lua is missing from the class path");
      }
      return new LuaScript(in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  byte[] source() {
    return source;
  }

  /** The SHA-1 that {@code SCRIPT LOAD} returns and {@code EVALSHA} takes. */
  String sha1() {
    return sha1;
  }

  /** Whether the script implements {@code limiter}'s algorithm. */
  static boolean supports(Limiter limiter) {
    return limiter instanceof SlidingWindowLimiter;
  }

  /** The time argument: the caller's milliseconds, or empty to make the script read Redis {@code TIME}. */
  static byte[] timeArgument(TimeSource timeSource, long nowMillis) {
    return timeSource == TimeSource.REDIS ? REDIS_TIME : ascii(Long.toString(nowMillis));
  }

  /**
   * Appends one key's arguments: algorithm, hits, limit, then the algorithm's parameters preceded by their count.
   *
   * @throws IllegalArgumentException when the script has no implementation of the limiter's algorithm
   */
  static void appendArguments(List<byte[]> args, Limiter limiter, long hits, long limit) {
    if (limiter instanceof SlidingWindowLimiter sw) {
      args.add(SLIDING_WINDOW);
      args.add(number(Math.min(hits, MAX_EXACT)));
      args.add(number(Math.min(limit, MAX_EXACT)));
      args.add(number(2));
      args.add(number(sw.slotMillis()));
      args.add(number(sw.precision()));
      return;
    }
    throw new IllegalArgumentException("the Redis store has no script for " + limiter.getClass().getSimpleName());
  }

  private static byte[] number(long value) {
    return ascii(Long.toString(value));
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  private static String sha1Hex(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-1 is required of every JVM", e);
    }
  }
}
