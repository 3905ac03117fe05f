package dev.ratelimit.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.testing.ManualClock;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class LogThrottleTest {
  @Test
  void oneLinePerMinuteReportingHowManyWereHeldBack() {
    ManualClock clock = ManualClock.atRoundTime();
    LogThrottle throttle = new LogThrottle(clock, Duration.ofMinutes(1));
    assertEquals(0, throttle.acquire(), "the first occurrence is logged");
    for (int i = 0; i < 5; i++) {
      clock.advance(Duration.ofSeconds(10));
      assertEquals(LogThrottle.SUPPRESSED, throttle.acquire());
    }
    clock.advance(Duration.ofSeconds(9)); // 59 s after the first line
    assertEquals(LogThrottle.SUPPRESSED, throttle.acquire());
    clock.advance(Duration.ofSeconds(1));
    assertEquals(6, throttle.acquire(), "a minute later, with the six held back");
    assertEquals(LogThrottle.SUPPRESSED, throttle.acquire());
  }
}
