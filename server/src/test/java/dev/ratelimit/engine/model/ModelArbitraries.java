package dev.ratelimit.engine.model;

import dev.ratelimit.engine.model.ModelAction.Descriptor;
import dev.ratelimit.engine.model.ModelAction.Kind;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Tuple;

/**
 * Generators of action sequences. Values come from a small pool so that requests meet on the same counters and reach
 * their limits, with odd ones mixed in: empty, non-ASCII, NUL, and values around and far beyond the 1,024-byte key
 * bound (counted under a digest of the whole key). Hits and limits straddle the 1-, 2- and 4-byte counter widths.
 */
public final class ModelArbitraries {
  /** Two long values that differ only at the end, so that a digest of a prefix would merge them. */
  static final String LONG_A = "x".repeat(1_100) + "A";
  static final String LONG_B = "x".repeat(1_100) + "B";

  private ModelArbitraries() {}

  public static Arbitrary<List<ModelAction>> actions(int maxSize) {
    return Arbitraries.frequencyOf(
            Tuple.of(12, requests()),
            Tuple.of(5, advances()),
            Tuple.of(1, reloads()),
            Tuple.of(1, Arbitraries.just(new ModelAction.Sweep())))
        .list().ofMinSize(1).ofMaxSize(maxSize);
  }

  static Arbitrary<ModelAction> requests() {
    // A request naming one counter twice (Envoy sends what its actions produce) sees its own first hit.
    Arbitrary<List<Descriptor>> descriptors = Arbitraries.oneOf(
        descriptors().list().ofMinSize(1).ofMaxSize(4),
        descriptors().list().ofMinSize(1).ofMaxSize(3).map(ModelArbitraries::withFirstRepeated));
    return Combinators.combine(descriptors,
            Arbitraries.frequency(Tuple.of(8, 0), Tuple.of(2, 1), Tuple.of(2, 2), Tuple.of(1, 5), Tuple.of(1, -1)))
        .as(ModelAction.Request::new);
  }

  private static List<Descriptor> withFirstRepeated(List<Descriptor> descriptors) {
    List<Descriptor> repeated = new ArrayList<>(descriptors);
    repeated.add(descriptors.get(0));
    return repeated;
  }

  static Arbitrary<Descriptor> descriptors() {
    Arbitrary<Long> hits = Arbitraries.frequency(
        Tuple.of(3, 0L), Tuple.of(3, 1L), Tuple.of(2, 2L), Tuple.of(1, 3L), Tuple.of(1, 4L),
        Tuple.of(1, 250L), Tuple.of(1, 256L), Tuple.of(1, 70_001L), Tuple.of(1, -1L))
        .injectNull(0.6);
    Arbitrary<Integer> override = Arbitraries.frequency(
        Tuple.of(1, 0), Tuple.of(1, 1), Tuple.of(1, 3), Tuple.of(1, 5), Tuple.of(1, 300),
        Tuple.of(1, 70_000), Tuple.of(1, -1))
        .injectNull(0.75);
    return Combinators.combine(Arbitraries.of(Kind.class), values(), values(), hits, override)
        .as(Descriptor::new);
  }

  static Arbitrary<String> values() {
    return Arbitraries.frequency(
        Tuple.of(12, "a"), Tuple.of(6, "b"), Tuple.of(2, ""), Tuple.of(1, "é"), Tuple.of(1, "日本"),
        Tuple.of(1, "\uD83D\uDE00"), Tuple.of(1, "a\u0000b"), Tuple.of(1, "z".repeat(1_000)),
        Tuple.of(1, "z".repeat(1_015)), Tuple.of(2, LONG_A), Tuple.of(2, LONG_B),
        Tuple.of(1, "\uD83D\uDE00".repeat(300)));
  }

  static Arbitrary<ModelAction> advances() {
    return Arbitraries.oneOf(
            Arbitraries.longs().between(0, 999),
            Arbitraries.of(1_000L, 59_000L, 60_000L, 61_000L),
            Arbitraries.longs().between(0, 30_000))
        .map(ModelAction.Advance::new);
  }

  static Arbitrary<ModelAction> reloads() {
    Arbitrary<Long> limits = Arbitraries.of(0L, 3L, 5L, 300L, 70_000L, 0xFFFF_FFFFL);
    return Combinators.combine(limits, limits, limits, limits, Arbitraries.of(false, true))
        .as(ModelPolicy::new).map(ModelAction.Reload::new);
  }
}
