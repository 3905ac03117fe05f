package dev.ratelimit.security;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import dev.ratelimit.bootstrap.ServerSettings;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Admin listeners beyond loopback need a token or mutual TLS: checked when the settings are made, before anything
 * binds. No test here binds a non-loopback address.
 */
class AdminSecurityTest {
  private static final List<String> BEYOND_LOOPBACK = List.of("0.0.0.0", "::", "10.1.2.3", "192.0.2.1");

  @TempDir
  static Path dir;

  private static ServerSettings bound(String address, AdminSecurity security) {
    return ServerSettings.builder().adminSecurity(security).adminBindAddress(address).build();
  }

  private static AdminSecurity token() throws Exception {
    return AdminSecurity.none().withTokenFile(Files.writeString(dir.resolve("token"), "s3cret\n"));
  }

  /** Any readable files will do: TLS settings check readability, not content. */
  private static TlsSettings tls(boolean mutual) throws Exception {
    Path pem = Files.writeString(dir.resolve("any.pem"), "pem");
    return TlsSettings.of(pem, pem, mutual ? pem : null);
  }

  @Test
  void anAdminBindBeyondLoopbackWithoutTokenOrMutualTlsIsRefused() throws Exception {
    for (String address : BEYOND_LOOPBACK) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> bound(address, AdminSecurity.none()), address);
      assertTrue(e.getMessage().contains("bind to " + address + ", which is not a loopback address"), e.getMessage());
      assertTrue(e.getMessage().contains("--admin-token-file"), e.getMessage());
      assertTrue(e.getMessage().contains("--admin-tls-client-ca"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> bound(address, AdminSecurity.none().withTls(tls(false))),
          "TLS without client certificates encrypts but does not authenticate: " + address);
    }
  }

  @Test
  void aTokenOrMutualTlsAllowsAnyBindAddress() throws Exception {
    for (String address : BEYOND_LOOPBACK) {
      assertEquals(address, bound(address, token()).adminBindAddress());
      assertEquals(address, bound(address, AdminSecurity.none().withTls(tls(true))).adminBindAddress());
    }
  }

  @Test
  void loopbackNeedsNothingAndNeitherDoAdminListenersThatAreOff() {
    for (String address : List.of("127.0.0.1", "127.0.0.2", "::1", "localhost")) {
      assertDoesNotThrow(() -> bound(address, AdminSecurity.none()), address);
    }
    ServerSettings off = ServerSettings.builder().adminPort(-1).adminGrpcPort(-1).adminBindAddress("0.0.0.0").build();
    assertEquals("0.0.0.0", off.adminBindAddress());
    assertThrows(IllegalArgumentException.class, () -> off.toBuilder().adminGrpcPort(0).build(),
        "one listener on is enough");
    assertFalse(AdminSecurity.none().authenticates());
  }

  @Test
  void mainExitsWithTwoForAnUnauthenticatedAdminBindBeyondLoopback() throws Exception {
    assertRefused("--admin-bind", "0.0.0.0");
    assertRefused("--admin-bind", "192.0.2.1");
    assertRefused("--admin-bind", "::", "--admin-port", "-1");
    String tokenFile = token().tokenFile().toString();
    assertEquals("--store must be chronicle or redis, not 'no-such-store'",
        runMain("--admin-bind", "0.0.0.0", "--admin-token-file", tokenFile)[1],
        "with a token the admin check passes and the next flag is checked");
  }

  @Test
  void mainChecksTheAdminTlsFlagsLikeTheGrpcOnes() throws Exception {
    Path pem = Files.writeString(dir.resolve("flags.pem"), "pem");
    assertEquals("--admin-tls-cert and --admin-tls-key must be given together",
        runMain("--admin-tls-cert", pem.toString())[1]);
    assertEquals("--admin-tls-client-ca needs --admin-tls-cert and --admin-tls-key (mutual TLS is TLS first)",
        runMain("--admin-tls-client-ca", pem.toString())[1]);
    assertTrue(runMain("--admin-grpc-port", "70000")[1].contains("admin gRPC port must be 0..65535"));
  }

  private static void assertRefused(String... args) throws Exception {
    String[] result = runMain(args);
    assertEquals("2", result[0], result[1]);
    assertTrue(result[1].contains("which is not a loopback address"), result[1]);
  }

  /**
   * Runs {@link Main} in this JVM; returns {exit code, its one-line error without the program name}. An unknown
   * {@code --store} is added as a safety net: it is checked after the admin flags, so a check that wrongly passed
   * shows up as a different message instead of a server binding (and blocking) here.
   */
  private static String[] runMain(String... args) {
    List<String> all = new java.util.ArrayList<>(List.of(args));
    all.addAll(List.of("--store", "no-such-store"));
    PrintStream err = System.err;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = new CommandLine(new Main()).execute(all.toArray(String[]::new));
    } finally {
      System.setErr(err);
    }
    String text = captured.toString(StandardCharsets.UTF_8).strip();
    return new String[] {Integer.toString(code), text.replaceFirst("^ratelimit-server: ", "")};
  }
}
