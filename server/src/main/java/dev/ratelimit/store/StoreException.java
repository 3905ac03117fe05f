package dev.ratelimit.store;

/** A store could not decide for a key; the service answers per its failure mode and counts the {@link Kind}. */
public final class StoreException extends RuntimeException {
  /** Why the store failed. */
  public enum Kind {
    /** No room for a new key. */
    FULL,
    /** The store is closed, unreachable or timed out. */
    UNAVAILABLE
  }

  private final Kind kind;

  public StoreException(Kind kind, String message, Throwable cause) {
    super(message, cause);
    this.kind = kind;
  }

  public Kind kind() {
    return kind;
  }
}
