package dev.ratelimit.store.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** When the Redis store says it cannot decide: a run of failures and no success for a while; back at a success. */
class StoreHealthTest {
  private final AtomicLong nanos = new AtomicLong(1_000_000_000L);
  private final StoreHealth health = new StoreHealth(3, Duration.ofSeconds(1), nanos::get);
  private final AtomicInteger changes = new AtomicInteger();

  StoreHealthTest() {
    health.onChange(changes::incrementAndGet);
  }

  private void advanceMillis(long millis) {
    nanos.addAndGet(millis * 1_000_000);
  }

  @Test
  void aRunOfFailuresAloneIsNotEnough() {
    for (int i = 0; i < 100; i++) {
      health.failed("timeout");
    }
    assertTrue(health.canDecide(), "failures within the last second of a success: a blip, not an outage");
    assertEquals(0, changes.get());
  }

  @Test
  void timeWithoutSuccessAloneIsNotEnough() {
    advanceMillis(60_000);
    health.failed("timeout");
    health.failed("timeout");
    health.evaluate();
    assertTrue(health.canDecide(), "idle, then two failures: not yet a run");
  }

  @Test
  void failuresInARowAndNoSuccessForASecondMeanItCannotDecideUntilTheNextSuccess() {
    health.failed("timeout");
    advanceMillis(600);
    health.failed("timeout");
    health.failed("timeout");
    assertTrue(health.canDecide());
    advanceMillis(400);
    health.evaluate(); // the probe's tick, without any call
    assertFalse(health.canDecide());
    assertEquals(1, changes.get());
    health.failed("timeout");
    assertEquals(1, changes.get(), "one change reported, not one per failure");
    health.succeeded();
    assertTrue(health.canDecide());
    assertEquals(2, changes.get());
    health.succeeded();
    assertEquals(2, changes.get());
  }

  @Test
  void aSuccessResetsTheRun() {
    health.failed("timeout");
    health.failed("timeout");
    advanceMillis(2_000);
    health.succeeded();
    health.failed("timeout");
    health.failed("timeout");
    advanceMillis(2_000);
    health.evaluate();
    assertTrue(health.canDecide(), "only two failures since the last success");
    health.failed("timeout");
    assertFalse(health.canDecide());
  }
}
