package dev.ratelimit.ops;

import dev.ratelimit.store.StoreSettings;
import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A store sized for a few hundred keys, filled through the gRPC service: new keys get the failure-mode answer, known
 * keys keep counting, the failure is counted and logged once a minute, and a sweep (fake clock) makes room again.
 */
class BoundedMemoryTest {
  private static final String POLICY = """
      domain: mem
      descriptors:
        - key: user
          rate_limit: {unit: minute, requests_per_unit: 100}
      """;
  /** New keys in a row the full map must refuse before the test calls it full (its segments fill one by one). */
  private static final int REFUSED_IN_A_ROW = 200;

  private final ManualClock clock = ManualClock.atRoundTime();

  @TempDir
  Path dir;

  private int nextUser;

  private RateLimitRequest newUsers(int n) {
    RateLimitRequest.Builder r = RateLimitRequest.newBuilder().setDomain("mem");
    for (int i = 0; i < n; i++) {
      r.addDescriptors(descriptor("user", "u" + nextUser++));
    }
    return r.build();
  }

  /** The answer for a descriptor the store could not decide: the failure mode's code and no limit. */
  private static boolean failureModeAnswer(DescriptorStatus status, FailureMode mode) {
    Code expected = mode == FailureMode.DENY ? Code.OVER_LIMIT : Code.OK;
    return !status.hasCurrentLimit() && status.getCode() == expected;
  }

  @ParameterizedTest
  @EnumSource(FailureMode.class)
  void aFullMapAnswersNewKeysByTheFailureModeKeepsKnownKeysAndRecoversAfterASweep(FailureMode mode)
      throws Exception {
    Files.writeString(dir.resolve("mem.yaml"), POLICY);
    ServerSettings settings = ServerSettings.loopback()
        .configPath(dir.resolve("mem.yaml"))
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(200, 16, 77, null)))
        .failureMode(mode)
        .build();
    PrintStream stderr = System.err;
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    try (TestServer server = TestServer.start(settings, clock)) {
      RateLimitResponse first = server.call(request("mem", descriptor("user", "first")));
      assertTrue(first.getStatuses(0).hasCurrentLimit());

      System.setErr(new PrintStream(log, true, StandardCharsets.UTF_8));
      int refusedInARow = 0;
      int calls = 0;
      while (refusedInARow < REFUSED_IN_A_ROW) {
        assertTrue(++calls < 10_000, "a map sized for 200 keys must fill up");
        for (DescriptorStatus status : server.call(newUsers(64)).getStatusesList()) {
          refusedInARow = failureModeAnswer(status, mode) ? refusedInARow + 1 : 0;
        }
      }
      long held = server.server().store().size();
      assertTrue(held >= 200, "the map holds at least what it was sized for: " + held);

      // Full: every new key gets the failure-mode answer; the first key keeps counting.
      for (DescriptorStatus status : server.call(newUsers(50)).getStatusesList()) {
        assertTrue(failureModeAnswer(status, mode), status.toString());
      }
      RateLimitResponse known = server.call(request("mem", descriptor("user", "first")));
      assertEquals(Code.OK, known.getOverallCode());
      assertEquals(98, known.getStatuses(0).getLimitRemaining(), "the known key still counts: 2 of 100");
      assertEquals(held, server.server().store().size());

      // Counted, logged once this minute, and again (with the count held back) in the next.
      double failures = server.registry().get("ratelimit_store_failures").tag("kind", "full").counter().count();
      assertTrue(failures >= REFUSED_IN_A_ROW + 50, "failures counted: " + failures);
      assertEquals(failures, server.registry().get("ratelimit_decisions")
          .tags("domain", "mem", "outcome", "store_failure").counter().count());
      assertEquals(1, lines(log, "counter store failure (FULL)"), log.toString(StandardCharsets.UTF_8));
      clock.advance(Duration.ofSeconds(30));
      server.call(newUsers(1));
      assertEquals(1, lines(log, "counter store failure (FULL)"), "still the same minute");
      clock.advance(Duration.ofSeconds(31));
      server.call(newUsers(1));
      assertEquals(2, lines(log, "counter store failure (FULL)"));
      assertTrue(log.toString(StandardCharsets.UTF_8).contains((long) failures + " more since the last message"),
          log.toString(StandardCharsets.UTF_8));
      System.setErr(stderr);

      // The window has passed for every key: a sweep empties the map and new keys are decided again.
      assertEquals(held, server.server().sweepNow());
      assertEquals(0, server.server().store().size());
      for (DescriptorStatus status : server.call(newUsers(64)).getStatusesList()) {
        assertFalse(failureModeAnswer(status, mode), status.toString());
        assertEquals(99, status.getLimitRemaining());
      }
      assertEquals((double) held, server.registry().get("ratelimit_store_swept_keys").counter().count());
    } finally {
      System.setErr(stderr);
    }
  }

  private static long lines(ByteArrayOutputStream log, String text) {
    return log.toString(StandardCharsets.UTF_8).lines().filter(l -> l.contains(text)).count();
  }
}
