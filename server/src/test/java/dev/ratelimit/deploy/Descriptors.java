package dev.ratelimit.deploy;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry;
import java.util.List;
import java.util.stream.Collectors;

/** Compact text form of descriptors for assertions: {@code [tier=pro, org=acme]}. */
final class Descriptors {
  private Descriptors() {}

  /** One descriptor as {@code [k=v, k=v]}. */
  static String text(RateLimitDescriptor descriptor) {
    return descriptor.getEntriesList().stream()
        .map(e -> e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(", ", "[", "]"));
  }

  /** Each descriptor as text, in order. */
  static List<String> text(List<RateLimitDescriptor> descriptors) {
    return descriptors.stream().map(Descriptors::text).toList();
  }

  /** Builds a descriptor from alternating keys and values. */
  static RateLimitDescriptor of(String... keysAndValues) {
    RateLimitDescriptor.Builder b = RateLimitDescriptor.newBuilder();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      b.addEntries(Entry.newBuilder().setKey(keysAndValues[i]).setValue(keysAndValues[i + 1]));
    }
    return b.build();
  }
}
