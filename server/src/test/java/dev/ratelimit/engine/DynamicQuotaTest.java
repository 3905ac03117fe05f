package dev.ratelimit.engine;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Timestamp;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.proto.admin.v1.GetQuotaRequest;
import dev.ratelimit.proto.admin.v1.QuotaResponse;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import dev.ratelimit.proto.admin.v1.RecordVolumeRequest;
import dev.ratelimit.proto.admin.v1.RecordVolumeResponse;
import dev.ratelimit.proto.admin.v1.SetQuotaRequest;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.StoreSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The dynamic tier of envoy-config/ratelimit/examples/dynamic-tier.yaml through the real gRPC services (docs/algorithms.md, dynamic quota). */
class DynamicQuotaTest {
  static final Path DYNAMIC_TIER = Path.of("../envoy-config/ratelimit/examples/dynamic-tier.yaml");
  private static final Duration TEN_MINUTES = Duration.ofMinutes(10);

  private final ManualClock clock = ManualClock.atRoundTime();

  private static ServerSettings settings() {
    return ServerSettings.loopback().configPath(DYNAMIC_TIER).build();
  }

  private static RateLimitAdminGrpc.RateLimitAdminBlockingStub admin(TestServer server) {
    return RateLimitAdminGrpc.newBlockingStub(server.adminChannel()).withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static RecordVolumeResponse record(TestServer server, String org, double usd) {
    return admin(server).recordVolume(RecordVolumeRequest.newBuilder().setOrg(org).setUsd(usd).build());
  }

  /** Sends single requests at one instant until one is rejected; returns how many were admitted. */
  private static int admittedInOneWindow(TestServer server, String org) {
    int admitted = 0;
    for (int i = 0; i < 1_000; i++) {
      RateLimitResponse response = server.call(request("api", descriptor("tier", "dynamic", "org", org)));
      if (response.getOverallCode() == Code.OVER_LIMIT) {
        assertEquals(admitted, response.getStatuses(0).getCurrentLimit().getRequestsPerUnit(),
            "the reported limit is base + added");
        return admitted;
      }
      admitted++;
    }
    throw new AssertionError("never rejected");
  }

  @Test
  void rollingVolumeOfZeroTenThousandHundredThousandAndAMillionGives50_51_61_165() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      record(server, "ten-k", 10_000);
      record(server, "hundred-k", 100_000);
      record(server, "million", 1_000_000);
      clock.advance(TEN_MINUTES);
      assertEquals(50, admittedInOneWindow(server, "zero"));
      assertEquals(51, admittedInOneWindow(server, "ten-k"));
      assertEquals(61, admittedInOneWindow(server, "hundred-k"));
      assertEquals(165, admittedInOneWindow(server, "million"));
    }
  }

  @Test
  void theLimitChangesOnlyAtTenMinuteBoundaries() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      clock.advance(Duration.ofMinutes(3));
      record(server, "acme", 1_000_000);
      assertEquals(50, admittedInOneWindow(server, "acme"), "recorded volume waits for the next recomputation");
      clock.advance(Duration.ofMinutes(7).minusMillis(1));
      RecordVolumeResponse more = record(server, "acme", 1_000_000);
      assertTrue(more.getCounted());
      assertEquals(0, more.getQuota().getAdded());
      assertEquals(2_000_000, more.getQuota().getPendingUsd());
      clock.advanceMillis(1);
      assertEquals(280, admittedInOneWindow(server, "acme"), "$2M at the boundary: 50 + 230");
      record(server, "acme", 1_000_000);
      clock.advance(Duration.ofSeconds(11));
      assertEquals(280, admittedInOneWindow(server, "acme"), "unchanged until the next boundary");
    }
  }

  @Test
  void volumeOlderThanADayStopsCountingAfterTheNextRecomputation() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      clock.advance(Duration.ofMinutes(5));
      record(server, "acme", 1_000_000); // traded in [T0, T0+10m)
      clock.advance(Duration.ofMinutes(5));
      assertEquals(165, admittedInOneWindow(server, "acme"));
      clock.advance(Duration.ofHours(24).minusMinutes(10)); // the boundary at T0+24h covers [T0, T0+24h)
      assertEquals(165, admittedInOneWindow(server, "acme"));
      clock.advance(TEN_MINUTES); // T0+24h10m: the recomputation drops [T0, T0+10m)
      assertEquals(50, admittedInOneWindow(server, "acme"));
      QuotaResponse quota = admin(server).getQuota(GetQuotaRequest.newBuilder().setOrg("acme").build());
      assertEquals(0, quota.getAdded());
      assertEquals(0, quota.getVolume24HUsd());
    }
  }

  @Test
  void setQuotaOverridesTheComputedQuotaUntilCleared() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      record(server, "acme", 100_000);
      clock.advance(TEN_MINUTES);
      QuotaResponse set = admin(server).setQuota(SetQuotaRequest.newBuilder().setOrg("acme").setAdded(20).build());
      assertEquals(20, set.getAdded());
      assertTrue(set.getOverridden());
      assertEquals(11, set.getComputedAdded());
      assertEquals("0.000115", set.getRate());
      assertEquals(70, admittedInOneWindow(server, "acme"), "an override applies at once");
      QuotaResponse cleared = admin(server).setQuota(SetQuotaRequest.newBuilder().setOrg("acme").setClear(true).build());
      assertFalse(cleared.getOverridden());
      assertEquals(11, cleared.getAdded());
      clock.advance(Duration.ofSeconds(11));
      assertEquals(61, admittedInOneWindow(server, "acme"));
    }
  }

  @Test
  void theRateIsAServerSetting() throws Exception {
    try (TestServer server = TestServer.start(settings().toBuilder().quotaRate(new BigDecimal("0.001")).build(), clock)) {
      record(server, "acme", 10_000);
      clock.advance(TEN_MINUTES);
      assertEquals(60, admittedInOneWindow(server, "acme"));
    }
  }

  @Test
  void badQuotaCallsAreInvalidArguments() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      assertInvalid(() -> record(server, "acme", -1), "usd must be between 0 and 1000000000000");
      assertInvalid(() -> record(server, "acme", Double.NaN), "usd must be a finite number");
      assertInvalid(() -> record(server, "", 5), "org must not be empty");
      long future = clock.millis() / 1000 + 3_600;
      assertInvalid(() -> admin(server).recordVolume(RecordVolumeRequest.newBuilder().setOrg("acme").setUsd(5)
          .setTimestamp(Timestamp.newBuilder().setSeconds(future)).build()), "after the server's clock");
      assertInvalid(() -> admin(server).setQuota(SetQuotaRequest.newBuilder().setOrg("acme").setAdded(1L << 32)
          .build()), "added must be between 0 and 4294967295");
      RecordVolumeResponse old = admin(server).recordVolume(RecordVolumeRequest.newBuilder().setOrg("acme")
          .setUsd(1_000_000).setTimestamp(Timestamp.newBuilder().setSeconds(clock.millis() / 1000 - 86_400)).build());
      assertFalse(old.getCounted(), "a day old: outside the next recomputation");
      assertEquals(0, old.getQuota().getPendingUsd());
    }
  }

  @Test
  void readingAnOrganisationNeverSeenStoresNothing() throws Exception {
    try (TestServer server = TestServer.start(settings(), clock)) {
      QuotaResponse none = admin(server).getQuota(GetQuotaRequest.newBuilder().setOrg("nobody").build());
      assertEquals(0, none.getAdded());
      assertFalse(none.getOverridden());
      assertEquals(0, server.server().store().size());
      record(server, "somebody", 1);
      assertEquals(1, server.server().store().size(), "one ledger key per organisation with volume");
    }
  }

  private static void assertInvalid(Runnable call, String message) {
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
    assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
    assertTrue(e.getStatus().getDescription().contains(message), e.getStatus().getDescription());
  }

  @Test
  void theQuotaSurvivesARestartOnAPersistedDataFile(@TempDir Path dir) throws Exception {
    ServerSettings persisted = settings().toBuilder()
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(10_000, 48, 260, dir.resolve("counters.dat"))))
        .build();
    try (TestServer first = TestServer.start(persisted, clock)) {
      record(first, "million", 1_000_000);
      record(first, "pinned", 0);
      admin(first).setQuota(SetQuotaRequest.newBuilder().setOrg("pinned").setAdded(7).build());
    }
    clock.advance(TEN_MINUTES);
    try (TestServer second = TestServer.start(persisted, clock)) {
      QuotaResponse quota = admin(second).getQuota(GetQuotaRequest.newBuilder().setOrg("million").build());
      assertEquals(115, quota.getAdded());
      assertEquals(1_000_000, quota.getVolume24HUsd());
      assertEquals(165, admittedInOneWindow(second, "million"));
      assertEquals(57, admittedInOneWindow(second, "pinned"));
    }
  }
}
