package dev.ratelimit.store;

import dev.ratelimit.limiter.StateBuffer;

/**
 * A read-modify-write of one key's fixed-size state that is not a limiter decision (e.g. an organisation's quota
 * ledger), applied atomically by {@link CounterStore#update}. The same conventions as a limiter's state hold: all
 * zeroes is a key never seen, bytes 0..7 are the expiry millis, and a state whose expiry is 0 after the update is not
 * kept.
 *
 * @param <R> what the update returns
 */
public interface StateUpdate<R> {
  /** Bytes of state. */
  int stateSize();

  /** Reads and changes {@code state} (zeroed when the key is new) and returns the result. */
  R apply(StateBuffer state, long nowMillis);
}
