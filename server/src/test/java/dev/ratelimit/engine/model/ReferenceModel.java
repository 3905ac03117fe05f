package dev.ratelimit.engine.model;

import dev.ratelimit.engine.model.ModelAction.Descriptor;
import dev.ratelimit.engine.model.ModelAction.Kind;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A small, obviously correct model of what the server must answer for {@link ModelPolicy}: every
 * counter is a list of (slot, hits); a hit recorded in slot {@code s} counts while {@code now < (s + 1 + P) × slot
 * width}; a request of {@code hits} is admitted iff {@code current + hits ≤ limit}; descriptors are decided in order
 * (a later descriptor on the same counter sees the hits of an earlier one); a rejected request keeps no hit unless
 * the domain counts within-limit descriptors. A counter is identified by its entries only (all rules and overrides
 * here are 60 s windows of 60 slots), never by a limit. The clock only moves forward.
 */
public final class ReferenceModel {
  public static final long SLOT_MILLIS = 1_000;
  public static final long PRECISION = 60;
  public static final long WINDOW_MILLIS = SLOT_MILLIS * PRECISION;

  /** Recorded hits of each counter, by slot. */
  private final Map<List<String>, TreeMap<Long, Long>> counters = new LinkedHashMap<>();
  private ModelPolicy policy;

  public ReferenceModel(ModelPolicy policy) {
    this.policy = policy;
  }

  public void reload(ModelPolicy next) {
    policy = next;
  }

  public ModelPolicy policy() {
    return policy;
  }

  /** Every counter a request has named so far (including those that never kept a hit). */
  public Set<List<String>> counters() {
    return counters.keySet();
  }

  /**
   * What one descriptor's decision must be.
   *
   * @param counter the counter's entries, null when the descriptor matches no rule and has no override (OK, no limit)
   * @param enforcing false for a shadow-mode rule, which never rejects
   * @param currentAfter the counter after this descriptor's decision, before a rejected request's hits are taken back
   * @param resetAtMillis when the oldest counted hit ages out at that moment ({@code now} when none counts)
   */
  public record Status(List<String> counter, long limit, boolean enforcing, boolean admitted, long hits,
      long currentAfter, long resetAtMillis) {
    static final Status NO_RULE = new Status(null, 0, false, true, 0, 0, 0);

    /** Whether this descriptor's status code is {@code OVER_LIMIT}. */
    public boolean over() {
      return enforcing && !admitted;
    }

    /** The verdict's signed {@code remaining}. */
    public long remaining() {
      return limit - currentAfter;
    }
  }

  /**
   * The expected answer to one request.
   *
   * @param reporter index of the descriptor whose {@code x-ratelimit-*} headers are sent, or -1 for none
   * @param kept whether the admitted hits stay counted
   */
  public record Expected(boolean overLimit, List<Status> statuses, int reporter, boolean kept) {}

  /** Decides {@code request} at {@code now} and records what it keeps. */
  public Expected request(ModelAction.Request request, long now) {
    Map<List<String>, Long> pending = new HashMap<>();
    List<Status> statuses = new ArrayList<>();
    for (Descriptor d : request.descriptors()) {
      long limit;
      boolean enforcing;
      if (d.override() != null) {
        // Envoy's override replaces the matched rule (shadow mode included) and counts in the same counter.
        limit = Integer.toUnsignedLong(d.override());
        enforcing = true;
      } else if (policy.limitOf(d.kind()) < 0) {
        statuses.add(Status.NO_RULE);
        continue;
      } else {
        limit = policy.limitOf(d.kind());
        enforcing = d.kind() != Kind.S;
      }
      List<String> counter = d.entries();
      counters.computeIfAbsent(counter, c -> new TreeMap<>());
      long hits = hitsOf(d, request.requestHits());
      long before = current(counter, now) + pending.getOrDefault(counter, 0L);
      boolean admitted = hits <= limit - before;
      if (admitted && hits > 0) {
        pending.merge(counter, hits, Long::sum);
      }
      long after = admitted ? before + hits : before;
      statuses.add(new Status(counter, limit, enforcing, admitted, hits, after,
          resetAt(counter, now, pending.getOrDefault(counter, 0L))));
    }
    boolean over = statuses.stream().anyMatch(Status::over);
    boolean kept = !over || policy.countWithinLimit();
    if (kept) {
      long slot = Math.floorDiv(now, SLOT_MILLIS);
      pending.forEach((counter, hits) -> counters.get(counter).merge(slot, hits, Long::sum));
    }
    return new Expected(over, statuses, reporter(statuses), kept);
  }

  /** The hits counted in {@code counter}'s window at {@code now}. */
  public long current(List<String> counter, long now) {
    TreeMap<Long, Long> slots = counters.get(counter);
    if (slots == null) {
      return 0;
    }
    slots.headMap(oldestCountedSlot(now)).clear(); // aged out for good: the clock never goes back
    return slots.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Envoy's hits: the descriptor's {@code hits_addend} when set (0 = check only), else the request's (0 = 1). */
  static long hitsOf(Descriptor d, int requestHits) {
    if (d.hits() != null) {
      return d.hits() < 0 ? Long.MAX_VALUE : d.hits(); // beyond Long.MAX_VALUE saturates
    }
    long hits = Integer.toUnsignedLong(requestHits);
    return hits == 0 ? 1 : hits;
  }

  private static long oldestCountedSlot(long now) {
    return Math.floorDiv(now, SLOT_MILLIS) - PRECISION;
  }

  private long resetAt(List<String> counter, long now, long pendingNow) {
    current(counter, now);
    TreeMap<Long, Long> slots = new TreeMap<>(counters.get(counter));
    if (pendingNow > 0) {
      slots.merge(Math.floorDiv(now, SLOT_MILLIS), pendingNow, Long::sum);
    }
    slots.values().removeIf(hits -> hits == 0);
    return slots.isEmpty() ? now : (slots.firstKey() + 1 + PRECISION) * SLOT_MILLIS;
  }

  /**
   * The descriptor that reports headers (docs/algorithms.md): among enforcing counted descriptors, over-limit ones first and
   * among them the latest reset, otherwise the fewest remaining; the first one wins a tie.
   */
  private static int reporter(List<Status> statuses) {
    int best = -1;
    for (int i = 0; i < statuses.size(); i++) {
      Status c = statuses.get(i);
      if (c.counter() == null || !c.enforcing()) {
        continue;
      }
      if (best < 0) {
        best = i;
        continue;
      }
      Status r = statuses.get(best);
      boolean better = c.over() != r.over() ? c.over()
          : c.over() ? c.resetAtMillis() > r.resetAtMillis() : c.remaining() < r.remaining();
      if (better) {
        best = i;
      }
    }
    return best;
  }
}
