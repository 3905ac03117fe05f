package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.Verdict;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Remembers keys that were over their limit so that, until their reset, further requests are rejected locally without
 * a round trip to Redis (DESIGN §7). Bounded: a fixed number of segments, each an insertion-ordered map that drops its
 * oldest entry when full.
 *
 * <p>Why a cached rejection is exact: before a key's reset nothing ages out of its window, so its count can only have
 * grown since it was seen; a request of {@code hits} that did not fit then ({@code hits > limit - current}) cannot
 * fit now. Entries are keyed by the limit too, so a reload that changes the limit asks Redis again.
 */
final class OverLimitCache {
  private static final int SEGMENTS = 16;

  private final Segment[] segments;

  /** @param maxEntries keys remembered at most; 0 disables the cache */
  OverLimitCache(int maxEntries) {
    if (maxEntries < 0) {
      throw new IllegalArgumentException("the over-limit cache size must be 0 or more, not " + maxEntries);
    }
    if (maxEntries == 0) {
      segments = null;
      return;
    }
    int perSegment = Math.max(1, (maxEntries + SEGMENTS - 1) / SEGMENTS);
    segments = new Segment[SEGMENTS];
    for (int i = 0; i < SEGMENTS; i++) {
      segments[i] = new Segment(perSegment);
    }
  }

  /**
   * A local rejection for {@code hits} more at {@code nowMillis}, or null when Redis must decide.
   *
   * @param nowMillis the replica's clock, the same one {@link #remember} was given
   */
  Verdict rejection(byte[] key, long hits, long limit, long nowMillis) {
    if (segments == null) {
      return null;
    }
    Key k = new Key(key);
    Segment segment = segmentOf(k);
    Entry e;
    synchronized (segment) {
      e = segment.get(k);
      if (e != null && nowMillis >= e.expiresAtMillis) {
        segment.remove(k);
        return null;
      }
    }
    if (e == null || e.verdict.limit() != limit || hits <= limit - e.verdict.current()) {
      return null;
    }
    return e.verdict;
  }

  /**
   * Records an over-limit verdict, valid on the replica's clock until {@code expiresAtMillis} (its reset translated
   * to this replica's clock). Admitted verdicts and verdicts that expire at once are ignored.
   */
  void remember(byte[] key, Verdict verdict, long nowMillis, long expiresAtMillis) {
    if (segments == null || !verdict.overLimit() || expiresAtMillis <= nowMillis) {
      return;
    }
    Key k = new Key(key);
    Segment segment = segmentOf(k);
    synchronized (segment) {
      segment.remove(k); // re-insert as the newest
      segment.put(k, new Entry(verdict, expiresAtMillis));
    }
  }

  /** Keys currently remembered (including some that have expired but were not looked up since). */
  int size() {
    if (segments == null) {
      return 0;
    }
    int size = 0;
    for (Segment s : segments) {
      synchronized (s) {
        size += s.size();
      }
    }
    return size;
  }

  private Segment segmentOf(Key k) {
    return segments[(k.hash ^ (k.hash >>> 16)) & (SEGMENTS - 1)];
  }

  private record Entry(Verdict verdict, long expiresAtMillis) {}

  /** A key's bytes with equality by content. */
  private static final class Key {
    final byte[] bytes;
    final int hash;

    Key(byte[] bytes) {
      this.bytes = bytes;
      this.hash = Arrays.hashCode(bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key other && other.hash == hash && Arrays.equals(other.bytes, bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  /** One bounded segment; guarded by its own monitor. */
  private static final class Segment extends LinkedHashMap<Key, Entry> {
    private final int capacity;

    Segment(int capacity) {
      super(Math.min(capacity, 1024) * 2, 0.75f, false);
      this.capacity = capacity;
    }

    @Override
    protected boolean removeEldestEntry(Map.Entry<Key, Entry> eldest) {
      return size() > capacity;
    }
  }
}
