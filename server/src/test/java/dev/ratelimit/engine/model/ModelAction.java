package dev.ratelimit.engine.model;

import com.google.protobuf.UInt64Value;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.type.v3.RateLimitUnit;
import java.util.List;
import java.util.stream.Collectors;

/** One step of a generated sequence run against both the server and the {@link ReferenceModel}. */
public sealed interface ModelAction {

  /** Which rule of {@link ModelPolicy} a descriptor is shaped for (its entries' keys). */
  enum Kind {
    /** {@code [k=v]}: the value-less rule {@code k}, one counter per value. */
    K,
    /** {@code [k=v, c=w]}: {@code k}'s value-less child {@code c}. */
    KC,
    /** {@code [k2=v]}. */
    K2,
    /** {@code [s=v]}: a shadow-mode rule, which counts but never rejects. */
    S,
    /** {@code [n=v]}: matches no rule (counted only under an Envoy limit override). */
    NONE
  }

  /**
   * One descriptor.
   *
   * @param hits the descriptor-level {@code hits_addend} (unsigned 64 bits), or null when unset
   * @param override the Envoy limit override's {@code requests_per_unit} per minute (unsigned 32 bits), or null
   */
  record Descriptor(Kind kind, String value, String child, Long hits, Integer override) {
    /** The descriptor's entries as alternating keys and values: the model's counter identity. */
    public List<String> entries() {
      return switch (kind) {
        case K -> List.of("k", value);
        case KC -> List.of("k", value, "c", child);
        case K2 -> List.of("k2", value);
        case S -> List.of("s", value);
        case NONE -> List.of("n", value);
      };
    }

    RateLimitDescriptor proto() {
      RateLimitDescriptor.Builder d = entriesProto(entries());
      if (hits != null) {
        d.setHitsAddend(UInt64Value.of(hits));
      }
      if (override != null) {
        d.setLimit(overrideProto(override));
      }
      return d.build();
    }

    @Override
    public String toString() {
      return kind + entries().stream().skip(1).filter(v -> !v.equals("c")).map(Descriptor::show)
          .collect(Collectors.joining(",", "(", ")"))
          + (hits == null ? "" : " hits=" + Long.toUnsignedString(hits))
          + (override == null ? "" : " override=" + Integer.toUnsignedString(override) + "/min");
    }

    /** A value for a failure report: long values abbreviated, odd characters escaped. */
    static String show(String value) {
      String shown = value.length() > 12
          ? value.substring(0, 6) + "…[" + value.length() + " chars]…" + value.substring(value.length() - 2)
          : value;
      StringBuilder out = new StringBuilder("\"");
      shown.codePoints().forEach(cp -> {
        if (cp < 0x20 || cp > 0x7e && cp != '…') {
          out.append(String.format("\\u{%x}", cp));
        } else {
          out.appendCodePoint(cp);
        }
      });
      return out.append('"').toString();
    }
  }

  /** A {@code ShouldRateLimit} call; {@code requestHits} is the request-level {@code hits_addend} (unsigned). */
  record Request(List<Descriptor> descriptors, int requestHits) implements ModelAction {
    public RateLimitRequest proto(String domain) {
      RateLimitRequest.Builder r = RateLimitRequest.newBuilder().setDomain(domain).setHitsAddend(requestHits);
      descriptors.forEach(d -> r.addDescriptors(d.proto()));
      return r.build();
    }

    @Override
    public String toString() {
      return "Request" + descriptors + (requestHits == 0 ? "" : " requestHits=" + Integer.toUnsignedString(requestHits));
    }
  }

  /** Moves the clock forward. */
  record Advance(long millis) implements ModelAction {
    @Override
    public String toString() {
      return "Advance(" + millis + " ms)";
    }
  }

  /** Reloads the policy with new limits (counters keep their counts). */
  record Reload(ModelPolicy policy) implements ModelAction {
    @Override
    public String toString() {
      return "Reload(" + policy + ")";
    }
  }

  /** Runs the store's sweeper now. */
  record Sweep() implements ModelAction {
    @Override
    public String toString() {
      return "Sweep";
    }
  }

  static RateLimitDescriptor.Builder entriesProto(List<String> entries) {
    RateLimitDescriptor.Builder d = RateLimitDescriptor.newBuilder();
    for (int i = 0; i < entries.size(); i += 2) {
      d.addEntries(RateLimitDescriptor.Entry.newBuilder().setKey(entries.get(i)).setValue(entries.get(i + 1)));
    }
    return d;
  }

  static RateLimitDescriptor.RateLimitOverride overrideProto(int requestsPerMinute) {
    return RateLimitDescriptor.RateLimitOverride.newBuilder()
        .setRequestsPerUnit(requestsPerMinute).setUnit(RateLimitUnit.MINUTE).build();
  }
}
