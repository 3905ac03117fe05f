package dev.ratelimit.security;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ratelimit.bootstrap.RateLimitServer;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestCertificates;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS and mutual TLS on the gRPC port, with certificates made at test time. */
class TlsTest {
  @TempDir
  static Path dir;
  private static TestCertificates ca;
  private static TestCertificates otherCa;
  private static Path[] server;
  private static Path[] client;
  private static Path[] strangerClient;

  @BeforeAll
  static void certificates() throws Exception {
    ca = TestCertificates.newCa(dir, "ratelimit-test-ca");
    otherCa = TestCertificates.newCa(dir, "some-other-ca");
    server = ca.issue("ratelimit-server", "serverAuth");
    client = ca.issue("envoy-client", "clientAuth");
    strangerClient = otherCa.issue("stranger-client", "clientAuth");
  }

  @Test
  void withTlsAPlaintextClientIsRefusedAndAClientTrustingTheCaSucceeds() throws Exception {
    try (RateLimitServer tls = start(TlsSettings.of(server[0], server[1], null))) {
      StatusRuntimeException plaintext = assertThrows(StatusRuntimeException.class,
          () -> call(tls, InsecureChannelCredentials.create()));
      assertEquals(Status.Code.UNAVAILABLE, plaintext.getStatus().getCode(), plaintext.toString());

      assertEquals(Code.OK, call(tls, TlsChannelCredentials.newBuilder().trustManager(ca.caPem().toFile()).build()));

      StatusRuntimeException wrongCa = assertThrows(StatusRuntimeException.class,
          () -> call(tls, TlsChannelCredentials.newBuilder().trustManager(otherCa.caPem().toFile()).build()));
      assertEquals(Status.Code.UNAVAILABLE, wrongCa.getStatus().getCode(), "a client that does not trust the"
          + " server's CA must not talk to it: " + wrongCa);
    }
  }

  @Test
  void withMutualTlsOnlyAClientWithACertificateFromTheClientCaGetsIn() throws Exception {
    try (RateLimitServer mtls = start(TlsSettings.of(server[0], server[1], ca.caPem()))) {
      StatusRuntimeException noCertificate = assertThrows(StatusRuntimeException.class,
          () -> call(mtls, TlsChannelCredentials.newBuilder().trustManager(ca.caPem().toFile()).build()));
      assertEquals(Status.Code.UNAVAILABLE, noCertificate.getStatus().getCode(), noCertificate.toString());

      StatusRuntimeException stranger = assertThrows(StatusRuntimeException.class,
          () -> call(mtls, TlsChannelCredentials.newBuilder().trustManager(ca.caPem().toFile())
              .keyManager(strangerClient[0].toFile(), strangerClient[1].toFile()).build()));
      assertEquals(Status.Code.UNAVAILABLE, stranger.getStatus().getCode(), stranger.toString());

      assertEquals(Code.OK, call(mtls, TlsChannelCredentials.newBuilder().trustManager(ca.caPem().toFile())
          .keyManager(client[0].toFile(), client[1].toFile()).build()));

      StatusRuntimeException plaintext = assertThrows(StatusRuntimeException.class,
          () -> call(mtls, InsecureChannelCredentials.create()));
      assertEquals(Status.Code.UNAVAILABLE, plaintext.getStatus().getCode(), plaintext.toString());
    }
  }

  @Test
  void anUnreadableOrInvalidCertificateStopsTheServerFromStarting() throws Exception {
    java.nio.file.Files.writeString(dir.resolve("garbage.pem"), "not a certificate");
    assertThrows(java.io.IOException.class,
        () -> start(TlsSettings.of(dir.resolve("garbage.pem"), server[1], null)).close());
    assertThrows(IllegalArgumentException.class,
        () -> TlsSettings.of(dir.resolve("missing.pem"), server[1], null));
  }

  private static RateLimitServer start(TlsSettings tls) throws Exception {
    ServerSettings settings = ServerSettings.loopback()
        .security(SecuritySettings.defaults().withTls(tls))
        .build();
    return RateLimitServer.start(settings, ManualClock.atRoundTime(), new SimpleMeterRegistry());
  }

  private static Code call(RateLimitServer server, ChannelCredentials credentials) throws InterruptedException {
    ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.grpcPort(), credentials)
        .overrideAuthority("localhost")
        .build();
    try {
      return RateLimitServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
          .shouldRateLimit(request("api", descriptor("tier", "free", "org", "acme")))
          .getOverallCode();
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
