package dev.ratelimit.service;

/**
 * Bounds on what one request may carry; requests beyond them are refused with {@code INVALID_ARGUMENT} before
 * anything is counted.
 *
 * @param maxDescriptors descriptors per request
 * @param maxEntries entries per descriptor
 * @param maxKeyBytes bytes of one counter key (domain plus the descriptor's keys and values, length-prefixed)
 */
public record RequestLimits(int maxDescriptors, int maxEntries, int maxKeyBytes) {
  public RequestLimits {
    if (maxDescriptors < 1 || maxEntries < 1 || maxKeyBytes < 16) {
      throw new IllegalArgumentException("request limits must be positive (key bytes at least 16)");
    }
  }

  /** 64 descriptors, 16 entries each, 1,024-byte keys: far above what Envoy route actions produce. */
  public static RequestLimits defaults() {
    return new RequestLimits(64, 16, 1024);
  }
}
