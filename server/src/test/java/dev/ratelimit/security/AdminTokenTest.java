package dev.ratelimit.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.RateLimitServer;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.AdminCalls;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A bearer token from a file guards admin gRPC and the admin HTTP port's /config and /reload. */
class AdminTokenTest {
  private static final String TOKEN = "4f1c0d6e9b2a7385c1e0f9d8a7b6c5d4";
  private static final String ROTATED = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private final ManualClock clock = ManualClock.atRoundTime();

  @TempDir
  Path dir;

  /**
   * The layout kubelet gives a mounted Secret: {@code token -> ..data/token}, {@code ..data -> ..<timestamp>}.
   * Rotation writes a new timestamped directory and swaps {@code ..data} atomically.
   */
  private Path secret(String token) throws IOException {
    Path version = Files.createDirectory(dir.resolve("..v1"));
    Files.writeString(version.resolve("token"), token + "\n");
    Files.createSymbolicLink(dir.resolve("..data"), version.getFileName());
    return Files.createSymbolicLink(dir.resolve("token"), Path.of("..data", "token"));
  }

  private void rotate(String token) throws IOException {
    Path version = Files.createDirectory(dir.resolve("..v2"));
    Files.writeString(version.resolve("token"), token + "\n");
    Path next = Files.createSymbolicLink(dir.resolve("..data_tmp"), version.getFileName());
    Files.move(next, dir.resolve("..data"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static TestServer start(Path tokenFile, ManualClock clock) throws Exception {
    ServerSettings settings = ServerSettings.loopback().build();
    return TestServer.start(settings.toBuilder()
        .adminSecurity(AdminSecurity.none().withTokenFile(tokenFile))
        .build(), clock);
  }

  @Test
  void adminGrpcCallsNeedTheTokenEvenOnLoopbackAndHealthStaysOpen() throws Exception {
    try (TestServer server = start(secret(TOKEN), clock)) {
      assertEquals(AdminCalls.all(Status.Code.UNAUTHENTICATED), AdminCalls.everyMethod(server.adminChannel()));
      assertEquals(AdminCalls.all(Status.Code.UNAUTHENTICATED),
          AdminCalls.everyMethod(server.adminChannel(), "Bearer " + ROTATED));
      assertEquals(AdminCalls.all(Status.Code.UNAUTHENTICATED),
          AdminCalls.everyMethod(server.adminChannel(), "Basic " + TOKEN));
      assertEquals(AdminCalls.all(Status.Code.UNAUTHENTICATED),
          AdminCalls.everyMethod(server.adminChannel(), "Bearer " + TOKEN.substring(1)));
      assertEquals(AdminCalls.all(Status.Code.OK), AdminCalls.everyMethod(server.adminChannel(), "Bearer " + TOKEN));

      assertEquals(ServingStatus.SERVING, HealthGrpc.newBlockingStub(server.adminChannel())
          .withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()).getStatus(),
          "kubelet gRPC probes send no token");
      assertEquals(AdminCalls.all(Status.Code.UNIMPLEMENTED),
          AdminCalls.everyMethod(server.channel(), "Bearer " + TOKEN), "the token does not open the public port");
    }
  }

  @Test
  void configAndReloadNeedTheTokenWhileMetricsHealthAndReadinessStayOpen() throws Exception {
    try (TestServer server = start(secret(TOKEN), clock)) {
      for (String[] protectedEndpoint : new String[][] {{"GET", "/config"}, {"POST", "/reload"}}) {
        URI uri = server.admin(protectedEndpoint[1]);
        HttpResponse<String> none = send(protectedEndpoint[0], uri, null);
        assertEquals(401, none.statusCode(), none.body());
        assertEquals("Bearer realm=\"ratelimit-admin\"", none.headers().firstValue("WWW-Authenticate").orElse(null));
        assertTrue(none.body().startsWith("unauthorized: "), none.body());
        assertEquals(401, send(protectedEndpoint[0], uri, "Bearer " + ROTATED).statusCode());
        assertEquals(401, send(protectedEndpoint[0], uri, "bearer").statusCode());
        assertEquals(200, send(protectedEndpoint[0], uri, "Bearer " + TOKEN).statusCode());
      }
      assertTrue(send("GET", server.admin("/config"), "Bearer " + TOKEN).body().contains("domain api"));
      for (String open : new String[] {"/metrics", "/healthz", "/readyz"}) {
        assertEquals(200, send("GET", server.admin(open), null).statusCode(), open);
      }
    }
  }

  @Test
  void aRotatedTokenFileAppliesWithoutARestartAndTheOldTokenIsRefused() throws Exception {
    try (TestServer server = start(secret(TOKEN), clock)) {
      assertEquals(Status.Code.OK, getQuota(server, TOKEN));
      rotate(ROTATED);
      awaitTrue(() -> getQuota(server, ROTATED) == Status.Code.OK, "the rotated token is accepted on admin gRPC");
      assertEquals(Status.Code.UNAUTHENTICATED, getQuota(server, TOKEN), "the old token is refused");
      assertEquals(200, send("POST", server.admin("/reload"), "Bearer " + ROTATED).statusCode());
      assertEquals(401, send("POST", server.admin("/reload"), "Bearer " + TOKEN).statusCode());
    }
  }

  @Test
  void anEmptyTokenFileStopsTheServerFromStartingAndAMissingOneIsRefusedAsASetting() throws Exception {
    Path empty = Files.writeString(dir.resolve("empty"), "\n");
    ServerSettings settings = ServerSettings.loopback().build();
    ServerSettings withEmpty = settings.toBuilder()
        .adminSecurity(AdminSecurity.none().withTokenFile(empty))
        .build();
    IOException e = assertThrows(IOException.class,
        () -> RateLimitServer.start(withEmpty, clock, new SimpleMeterRegistry()).close());
    assertTrue(e.getMessage().contains("admin token file " + empty + " is empty"), e.getMessage());

    IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
        () -> AdminSecurity.none().withTokenFile(dir.resolve("missing")));
    assertTrue(missing.getMessage().contains("cannot read the admin token file"), missing.getMessage());
  }

  private static Status.Code getQuota(TestServer server, String token) {
    return AdminCalls.everyMethod(server.adminChannel(), "Bearer " + token).get("GetQuota");
  }

  /** Polls {@code condition} for up to 30 s: the token file is re-read on its own schedule, not the test's. */
  private static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
      Thread.sleep(20);
    }
  }

  private static HttpResponse<String> send(String method, URI uri, String authorization)
      throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
        .method(method, HttpRequest.BodyPublishers.noBody());
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }
}
