package dev.ratelimit.store;

import dev.ratelimit.limiter.HeapStateBuffer;

/** Reads what an embedded store holds for a key, for tests that compare it with another store. */
public final class EmbeddedStates {
  private EmbeddedStates() {}

  /** The expiry (epoch millis) of the state {@code store} holds under {@code key}, or -1 when it holds none. */
  public static long expiresAt(ChronicleMapStore store, byte[] key) {
    byte[] state = store.map().get(key);
    return state == null ? -1 : HeapStateBuffer.expiresAt(state);
  }
}
