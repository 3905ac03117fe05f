package dev.ratelimit.security;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.RateLimitServer;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.proto.admin.v1.GetQuotaRequest;
import dev.ratelimit.proto.admin.v1.SetQuotaRequest;
import dev.ratelimit.testing.AdminCalls;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The admin API lives on its own listener: the port Envoy calls does not serve it. */
class AdminListenerTest {
  private final ManualClock clock = ManualClock.atRoundTime();

  @Test
  void everyAdminMethodIsUnimplementedOnThePublicPortAndWorksOnTheAdminPort() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      assertEquals(AdminCalls.all(Status.Code.UNIMPLEMENTED), AdminCalls.everyMethod(server.channel()));
      assertEquals(AdminCalls.all(Status.Code.OK), AdminCalls.everyMethod(server.adminChannel()));

      var admin = AdminCalls.stub(server.adminChannel(), null);
      admin.setQuota(SetQuotaRequest.newBuilder().setOrg("globex").setAdded(42).build());
      assertEquals(42, admin.getQuota(GetQuotaRequest.newBuilder().setOrg("globex").build()).getAdded(),
          "the admin listener reaches the same engine the public port decides with");
    }
  }

  @Test
  void theAdminListenerServesHealthButNotEnvoysRateLimitService() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      assertEquals(ServingStatus.SERVING, HealthGrpc.newBlockingStub(server.adminChannel())
          .withDeadlineAfter(10, TimeUnit.SECONDS).check(HealthCheckRequest.getDefaultInstance()).getStatus());
      StatusRuntimeException rls = assertThrows(StatusRuntimeException.class,
          () -> RateLimitServiceGrpc.newBlockingStub(server.adminChannel()).withDeadlineAfter(10, TimeUnit.SECONDS)
              .shouldRateLimit(request("api", descriptor("tier", "free", "org", "acme"))));
      assertEquals(Status.Code.UNIMPLEMENTED, rls.getStatus().getCode());
    }
  }

  @Test
  void theAdminGrpcPortIsReportedAndMinusOneTurnsItOff() throws Exception {
    ServerSettings settings = ServerSettings.loopback().build();
    try (TestServer on = TestServer.start(settings, clock);
        TestServer off = TestServer.start(settings.toBuilder().adminGrpcPort(-1).build(),
            clock)) {
      assertTrue(on.server().adminGrpcPort() > 0, "an ephemeral port was bound: " + on.server().adminGrpcPort());
      assertTrue(on.server().adminGrpcPort() != on.server().grpcPort());
      assertEquals(-1, off.server().adminGrpcPort());
      assertEquals(AdminCalls.all(Status.Code.UNIMPLEMENTED), AdminCalls.everyMethod(off.channel()),
          "turning the admin listener off does not bring the admin API back to the public port");
    }
  }

  @Test
  void anAdminGrpcPortInUseIsReportedWithTheListenerAndTheAddress() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      ServerSettings settings = ServerSettings.loopback().build();
      ServerSettings clash = settings.toBuilder().adminGrpcPort(taken.getLocalPort()).build();
      IOException e = assertThrows(IOException.class,
          () -> RateLimitServer.start(clash, clock, new SimpleMeterRegistry()).close());
      assertTrue(e.getMessage().startsWith("cannot listen for admin gRPC on 127.0.0.1:" + taken.getLocalPort()
          + ": "), e.getMessage());
      assertTrue(e.getMessage().toLowerCase(java.util.Locale.ROOT).contains("in use"), e.getMessage());
    }
  }
}
