package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * A Lua script of this package with its SHA-1: {@code ratelimit.lua} runs the algorithms of
 * {@code dev.ratelimit.limiter} inside Redis (one call decides any number of keys atomically, in order), and
 * {@code state.lua} is the compare-and-set for state updates computed in Java. Also encodes the decision script's
 * arguments.
 */
final class LuaScript {
  /** Larger integers are not exact in Lua's doubles; hits and limits beyond it are clamped (both far past any use). */
  static final long MAX_EXACT = 1L << 53;

  private static final byte[] REDIS_TIME = new byte[0];
  private static final byte[] SLIDING_WINDOW = ascii("sliding_window");
  private static final byte[] FIXED_WINDOW = ascii("fixed_window");
  private static final byte[] TOKEN_BUCKET = ascii("token_bucket");
  private static final byte[] PENALTY = ascii("penalty");

  private final byte[] source;
  private final String sha1;

  private LuaScript(byte[] source) {
    this.source = source;
    this.sha1 = sha1Hex(source);
  }

  /** Loads the decision script from the class path. */
  static LuaScript load() {
    return load("ratelimit.lua");
  }

  /** Loads a script of this package from the class path. */
  static LuaScript load(String name) {
    try (InputStream in = LuaScript.class.getResourceAsStream(name)) {
      if (in == null) {
        throw new IllegalStateException(name + " is missing from the class path");
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

  /** Whether the decision script implements {@code limiter}'s algorithm (others run in Java over compare-and-set). */
  static boolean supports(Limiter limiter) {
    if (limiter instanceof PenaltyLimiter penalty) {
      return !(penalty.inner() instanceof PenaltyLimiter) && supports(penalty.inner());
    }
    return limiter instanceof SlidingWindowLimiter || limiter instanceof FixedWindowLimiter
        || limiter instanceof TokenBucketLimiter;
  }

  /** No deadline: the script runs whenever Redis gets to it. */
  static final long NO_DEADLINE = -1;

  /** The time argument: the caller's milliseconds, or empty to make the script read Redis {@code TIME}. */
  static byte[] timeArgument(TimeSource timeSource, long nowMillis) {
    return timeSource == TimeSource.REDIS ? REDIS_TIME : ascii(Long.toString(nowMillis));
  }

  /**
   * The clock argument: the time argument, then the deadline in Redis {@code TIME} milliseconds after which the
   * script refuses to run (error {@code EXPIRED}, nothing written), unless it is {@link #NO_DEADLINE}.
   */
  static byte[] clockArgument(TimeSource timeSource, long nowMillis, long redisDeadlineMillis) {
    if (redisDeadlineMillis == NO_DEADLINE) {
      return timeArgument(timeSource, nowMillis);
    }
    String time = timeSource == TimeSource.REDIS ? "" : Long.toString(nowMillis);
    return ascii(time + " " + redisDeadlineMillis);
  }

  /**
   * Appends one key's arguments: algorithm, hits, limit, then the algorithm's parameters preceded by their count.
   *
   * @throws IllegalArgumentException when the script has no implementation of the limiter's algorithm
   */
  static void appendArguments(List<byte[]> args, Limiter limiter, long hits, long limit) {
    if (limiter instanceof PenaltyLimiter penalty && supports(penalty)) {
      // The penalty's parameters, then the wrapped algorithm's arguments without their hits and limit.
      List<byte[]> inner = new java.util.ArrayList<>();
      appendArguments(inner, penalty.inner(), hits, limit);
      int innerParameters = inner.size() - 4; // after its name, hits, limit and parameter count
      common(args, PENALTY, hits, limit, 4 + innerParameters);
      args.add(number(Math.min(threshold(penalty, limit), MAX_EXACT)));
      args.add(number(penalty.durationMillis()));
      args.add(number(penalty.windowMillis()));
      args.add(inner.get(0));
      args.addAll(inner.subList(4, inner.size()));
      return;
    }
    if (limiter instanceof SlidingWindowLimiter sw) {
      common(args, SLIDING_WINDOW, hits, limit, 3);
      args.add(number(sw.slotMillis()));
      args.add(number(sw.precision()));
      args.add(number((1L << (8 * sw.counterBytes())) - 1));
      return;
    }
    if (limiter instanceof FixedWindowLimiter fw) {
      common(args, FIXED_WINDOW, hits, limit, 1);
      args.add(number(fw.windowMillis()));
      return;
    }
    if (limiter instanceof TokenBucketLimiter tb) {
      common(args, TOKEN_BUCKET, hits, limit, 3);
      args.add(number(Math.min(tb.initialTokens(), MAX_EXACT)));
      args.add(number(Math.min(tb.refillTokens(), MAX_EXACT)));
      args.add(number(tb.refillIntervalMillis()));
      return;
    }
    throw new IllegalArgumentException("the Redis store has no script for " + limiter.getClass().getSimpleName());
  }

  /** Rejected hits in one window beyond which a penalty starts: {@code floor((overFactor − 1) × limit)}. */
  private static long threshold(PenaltyLimiter penalty, long limit) {
    BigDecimal t = penalty.overFactor().subtract(BigDecimal.ONE).multiply(BigDecimal.valueOf(limit))
        .setScale(0, RoundingMode.FLOOR);
    return t.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) >= 0 ? Long.MAX_VALUE : t.longValue();
  }

  private static void common(List<byte[]> args, byte[] algorithm, long hits, long limit, int parameters) {
    args.add(algorithm);
    args.add(number(Math.min(hits, MAX_EXACT)));
    args.add(number(Math.min(limit, MAX_EXACT)));
    args.add(number(parameters));
  }

  static byte[] number(long value) {
    return ascii(Long.toString(value));
  }

  static byte[] ascii(String s) {
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
