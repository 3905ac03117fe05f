package dev.ratelimit.engine;

import dev.ratelimit.store.CounterKey;

/**
 * Bounds on what one request may carry. Only what a misconfigured Envoy sends is refused with {@code INVALID_ARGUMENT}
 * (more descriptors than {@code maxDescriptors}); a descriptor with more entries than {@code maxEntries} is decided by
 * the failure mode alone, and a longer key is counted under its digest ({@link dev.ratelimit.store.CounterKey}).
 *
 * @param maxDescriptors descriptors per request
 * @param maxEntries entries per descriptor
 * @param maxKeyBytes bytes of one stored counter key (domain plus the descriptor's keys and values, length-prefixed);
 *     longer keys are stored as a digest
 */
public record RequestLimits(int maxDescriptors, int maxEntries, int maxKeyBytes) {
  public RequestLimits {
    if (maxDescriptors < 1 || maxEntries < 1 || maxKeyBytes < CounterKey.MIN_MAX_BYTES) {
      throw new IllegalArgumentException("request limits must be positive (key bytes at least "
          + CounterKey.MIN_MAX_BYTES + ")");
    }
  }

  /** 64 descriptors, 16 entries each, 1,024-byte keys: far above what Envoy route actions produce. */
  public static RequestLimits defaults() {
    return new RequestLimits(64, 16, 1024);
  }
}
