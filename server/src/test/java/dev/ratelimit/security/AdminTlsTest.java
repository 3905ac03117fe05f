package dev.ratelimit.security;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.AdminCalls;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestCertificates;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** TLS and mutual TLS on both admin listeners, with certificates made at test time; the public port is unaffected. */
class AdminTlsTest {
  @TempDir
  static Path dir;
  private static TestCertificates ca;
  private static TestCertificates otherCa;
  private static Path[] server;
  private static Path[] operator;
  private static Path[] stranger;

  private final ManualClock clock = ManualClock.atRoundTime();

  @BeforeAll
  static void certificates() throws Exception {
    ca = TestCertificates.newCa(dir, "admin-test-ca");
    otherCa = TestCertificates.newCa(dir, "some-other-ca");
    server = ca.issue("ratelimit-admin", "serverAuth");
    operator = ca.issue("operator", "clientAuth");
    stranger = otherCa.issue("stranger", "clientAuth");
  }

  private TestServer start(AdminSecurity security) throws Exception {
    ServerSettings settings = ServerSettings.loopback().build();
    return TestServer.start(settings.toBuilder().adminSecurity(security).build(), clock);
  }

  @Test
  void mutualTlsAdminGrpcAcceptsOnlyAClientCertificateFromTheClientCa() throws Exception {
    try (TestServer mtls = start(AdminSecurity.none().withTls(TlsSettings.of(server[0], server[1], ca.caPem())))) {
      assertEquals(AdminCalls.all(Status.Code.OK), adminCalls(mtls, TlsChannelCredentials.newBuilder()
          .trustManager(ca.caPem().toFile()).keyManager(operator[0].toFile(), operator[1].toFile()).build(), null));
      assertEquals(AdminCalls.all(Status.Code.UNAVAILABLE), adminCalls(mtls, TlsChannelCredentials.newBuilder()
          .trustManager(ca.caPem().toFile()).build(), null), "no client certificate");
      assertEquals(AdminCalls.all(Status.Code.UNAVAILABLE), adminCalls(mtls, TlsChannelCredentials.newBuilder()
          .trustManager(ca.caPem().toFile()).keyManager(stranger[0].toFile(), stranger[1].toFile()).build(), null),
          "a certificate from another CA");
      assertEquals(AdminCalls.all(Status.Code.UNAVAILABLE), adminCalls(mtls, InsecureChannelCredentials.create(), null),
          "plaintext");
      assertEquals(Code.OK, mtls.call(request("api", descriptor("tier", "free", "org", "acme"))).getOverallCode(),
          "the public port keeps its own (plaintext) transport");
    }
  }

  @Test
  void mutualTlsAdminHttpNeedsAClientCertificateForConfigAndReloadOnly() throws Exception {
    try (TestServer mtls = start(AdminSecurity.none().withTls(TlsSettings.of(server[0], server[1], ca.caPem())))) {
      HttpClient anonymous = https(null);
      HttpClient withCertificate = https(operator);
      for (String open : new String[] {"/metrics", "/healthz", "/readyz"}) {
        assertEquals(200, send(anonymous, "GET", https(mtls, open)).statusCode(), open + " needs no certificate");
      }
      HttpResponse<String> config = send(anonymous, "GET", https(mtls, "/config"));
      assertEquals(401, config.statusCode());
      assertTrue(config.body().contains("client certificate"), config.body());
      assertEquals(401, send(anonymous, "POST", https(mtls, "/reload")).statusCode());
      assertEquals(200, send(withCertificate, "GET", https(mtls, "/config")).statusCode());
      assertEquals(200, send(withCertificate, "POST", https(mtls, "/reload")).statusCode());

      assertThrows(IOException.class, () -> send(https(stranger), "GET", https(mtls, "/healthz")),
          "a certificate from another CA fails the handshake");
      assertThrows(IOException.class, () -> send(HttpClient.newHttpClient(), "GET", mtls.admin("/healthz")),
          "plaintext HTTP on the TLS port");
    }
  }

  @Test
  void tlsWithATokenEncryptsAndTheTokenAuthenticates() throws Exception {
    Path token = Files.writeString(dir.resolve("token"), "tls-and-token\n");
    try (TestServer tls = start(new AdminSecurity(token, TlsSettings.of(server[0], server[1], null)))) {
      ChannelCredentials trusting = TlsChannelCredentials.newBuilder().trustManager(ca.caPem().toFile()).build();
      assertEquals(AdminCalls.all(Status.Code.UNAUTHENTICATED), adminCalls(tls, trusting, null));
      assertEquals(AdminCalls.all(Status.Code.OK), adminCalls(tls, trusting, "Bearer tls-and-token"));
      assertEquals(AdminCalls.all(Status.Code.UNAVAILABLE),
          adminCalls(tls, InsecureChannelCredentials.create(), "Bearer tls-and-token"), "plaintext");

      HttpClient client = https(null);
      assertEquals(401, send(client, "GET", https(tls, "/config")).statusCode());
      assertEquals(200, client.send(HttpRequest.newBuilder(https(tls, "/config")).timeout(Duration.ofSeconds(10))
          .header("Authorization", "Bearer tls-and-token").build(), HttpResponse.BodyHandlers.ofString())
          .statusCode());
    }
  }

  private static Map<String, Status.Code> adminCalls(TestServer server, ChannelCredentials credentials,
      String authorization) throws InterruptedException {
    ManagedChannel channel = Grpc.newChannelBuilderForAddress("127.0.0.1", server.server().adminGrpcPort(),
        credentials).overrideAuthority("localhost").build();
    try {
      return AdminCalls.everyMethod(channel, authorization);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static URI https(TestServer server, String path) {
    return URI.create("https://127.0.0.1:" + server.server().adminPort() + path);
  }

  /** An HTTPS client trusting the test CA, presenting {@code identity} (chain, key) when it is not null. */
  private static HttpClient https(Path[] identity) throws Exception {
    KeyStore trusted = KeyStore.getInstance("PKCS12");
    trusted.load(null, null);
    try (InputStream in = Files.newInputStream(ca.caPem())) {
      trusted.setCertificateEntry("ca", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    trust.init(trusted);
    KeyManager[] keys = null;
    if (identity != null) {
      AdvancedTlsX509KeyManager key = new AdvancedTlsX509KeyManager();
      key.updateIdentityCredentials(identity[0].toFile(), identity[1].toFile());
      keys = new KeyManager[] {key};
    }
    SSLContext context = SSLContext.getInstance("TLS");
    context.init(keys, trust.getTrustManagers(), null);
    return HttpClient.newBuilder().sslContext(context).connectTimeout(Duration.ofSeconds(5)).build();
  }

  private static HttpResponse<String> send(HttpClient client, String method, URI uri)
      throws IOException, InterruptedException {
    return client.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }
}
