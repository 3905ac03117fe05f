package dev.ratelimit.policy;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/** The running policy; a reload swaps in a whole new {@link PolicyIndex} atomically. */
public final class PolicyHolder implements Supplier<PolicyIndex> {
  private final AtomicReference<PolicyIndex> current;

  public PolicyHolder(PolicyIndex initial) {
    this.current = new AtomicReference<>(Objects.requireNonNull(initial, "initial"));
  }

  @Override
  public PolicyIndex get() {
    return current.get();
  }

  /** Makes {@code next} the running policy; in-flight calls finish on the one they started with. */
  public void replace(PolicyIndex next) {
    current.set(Objects.requireNonNull(next, "next"));
  }
}
