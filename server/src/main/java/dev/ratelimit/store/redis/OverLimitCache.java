package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.Verdict;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Remembers keys that were over their limit so that, until their reset, further requests are rejected locally without
 * a round trip to Redis (docs/redis.md). Bounded: a fixed number of segments, each an insertion-ordered map that drops its
 * oldest entry when full.
 *
 * <p>Why a cached rejection is exact: before a key's reset nothing ages out of its window, so its count can only have
 * grown since it was seen, except for hits taken back from requests that another descriptor rejected (a rejected
 * request counts nowhere). Within one script call those are taken back before anyone can see them, and the store never
 * caches a rejection whose count includes hits its own request took back. Only on Redis Cluster, where a request's
 * keys in other slots are taken back by a second call, can a concurrent request see hits that are about to go: there
 * an entry is kept for at most {@code maxAgeMillis} (a transient over-rejection, never an over-admission). A request of
 * {@code hits} that did not fit then ({@code hits > limit - current}) is rejected locally. Entries are keyed by the
 * limit too, so a reload that changes the limit asks Redis again.
 */
final class OverLimitCache {
  /** On Redis Cluster, the longest time a rejection is answered locally (Redis is asked again this often per key). */
  static final long CLUSTER_MAX_AGE_MILLIS = 1_000;
  private static final int SEGMENTS = 16;

  private final Segment[] segments;
  private final long maxAgeMillis;

  /** A cache whose entries live until their reset. */
  OverLimitCache(int maxEntries) {
    this(maxEntries, Long.MAX_VALUE);
  }

  /**
   * @param maxEntries keys remembered at most; 0 disables the cache
   * @param maxAgeMillis longest time an entry is kept, whatever its reset
   */
  OverLimitCache(int maxEntries, long maxAgeMillis) {
    this.maxAgeMillis = maxAgeMillis;
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
   * Records an over-limit verdict, valid on the replica's clock until {@code resetAtMillis} (its reset translated
   * to this replica's clock) or for the cache's maximum age, whichever comes first. Admitted verdicts and verdicts
   * that expire at once are ignored.
   */
  void remember(byte[] key, Verdict verdict, long nowMillis, long resetAtMillis) {
    long expiresAtMillis = nowMillis > Long.MAX_VALUE - maxAgeMillis ? resetAtMillis
        : Math.min(resetAtMillis, nowMillis + maxAgeMillis);
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
