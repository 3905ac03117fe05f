package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.FixedWindowLimiter;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import dev.ratelimit.limiter.TokenBucketLimiter;
import dev.ratelimit.limiter.UnlimitedLimiter;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A Lua script of this package with its SHA-1: {@code ratelimit.lua} runs the algorithms of
 * {@code dev.ratelimit.limiter} inside Redis (one call decides any number of keys atomically, in order), and
 * {@code state.lua} is the compare-and-set for the state updates computed in Java (the quota ledger). Also encodes
 * the decision script's arguments, for every {@link Limiter} through its visitor.
 */
final class LuaScript {
  private static final byte[] REDIS_TIME = new byte[0];
  private static final byte[] ONE = ascii("1");
  private static final byte[] ZERO = ascii("0");

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
   * Appends one key's arguments: algorithm, hits, limit, whether it enforces, then the algorithm's parameters preceded
   * by their count.
   */
  static void appendArguments(List<byte[]> args, Limiter limiter, long hits, long limit, boolean enforcing) {
    List<byte[]> algorithm = limiter.accept(new Algorithm(limit));
    args.add(algorithm.get(0));
    args.add(number(Math.min(hits, Limiter.MAX_EXACT)));
    args.add(number(Math.min(limit, Limiter.MAX_EXACT)));
    args.add(enforcing ? ONE : ZERO);
    args.add(number(algorithm.size() - 1));
    args.addAll(algorithm.subList(1, algorithm.size()));
  }

  /**
   * A limiter as the script knows it: the algorithm's name, then its parameters as the script reads them; a penalty's
   * end with the name and parameters of the algorithm it wraps.
   */
  private record Algorithm(long limit) implements Limiter.Visitor<List<byte[]>> {
    @Override
    public List<byte[]> slidingWindow(SlidingWindowLimiter limiter) {
      return List.of(ascii("sliding_window"), number(limiter.slotMillis()), number(limiter.precision()));
    }

    @Override
    public List<byte[]> fixedWindow(FixedWindowLimiter limiter) {
      return List.of(ascii("fixed_window"), number(limiter.windowMillis()));
    }

    @Override
    public List<byte[]> tokenBucket(TokenBucketLimiter limiter) {
      return List.of(ascii("token_bucket"), number(Math.min(limiter.initialTokens(), Limiter.MAX_EXACT)),
          number(Math.min(limiter.refillTokens(), Limiter.MAX_EXACT)), number(limiter.refillIntervalMillis()));
    }

    @Override
    public List<byte[]> penalty(PenaltyLimiter limiter) {
      List<byte[]> all = new ArrayList<>();
      all.add(ascii("penalty"));
      all.add(number(Math.min(limiter.threshold(limit), Limiter.MAX_EXACT)));
      all.add(number(limiter.durationMillis()));
      all.add(number(limiter.windowMillis()));
      all.addAll(limiter.inner().accept(this));
      return all;
    }

    @Override
    public List<byte[]> unlimited(UnlimitedLimiter limiter) {
      return List.of(ascii("unlimited"));
    }
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
