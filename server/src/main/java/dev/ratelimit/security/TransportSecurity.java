package dev.ratelimit.security;

import io.grpc.InsecureServerCredentials;
import io.grpc.ServerCredentials;
import io.grpc.TlsServerCredentials;
import io.grpc.util.AdvancedTlsX509KeyManager;
import io.grpc.util.AdvancedTlsX509TrustManager;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The gRPC port's credentials: plaintext, TLS, or mutual TLS from {@link TlsSettings}, with the certificate files
 * re-read periodically so a rotated certificate is served without a restart. Closing it stops the re-reading.
 */
public final class TransportSecurity implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TransportSecurity.class);

  private final ServerCredentials credentials;
  private final ScheduledExecutorService reloader;
  private final List<AutoCloseable> watches;

  private TransportSecurity(ServerCredentials credentials, ScheduledExecutorService reloader,
      List<AutoCloseable> watches) {
    this.credentials = credentials;
    this.reloader = reloader;
    this.watches = watches;
  }

  /** Plaintext when {@code tls} is null; otherwise loads the files now (failing fast on a bad file) and watches them. */
  public static TransportSecurity open(TlsSettings tls) throws IOException {
    if (tls == null) {
      return new TransportSecurity(InsecureServerCredentials.create(), null, List.of());
    }
    ScheduledExecutorService reloader = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-tls-reload");
      t.setDaemon(true);
      return t;
    });
    List<AutoCloseable> watches = new ArrayList<>();
    try {
      long period = tls.reloadInterval().toMillis();
      AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
      watches.add(keys.updateIdentityCredentials(tls.certChain().toFile(), tls.privateKey().toFile(), period,
          TimeUnit.MILLISECONDS, reloader)::close);
      TlsServerCredentials.Builder builder = TlsServerCredentials.newBuilder().keyManager(keys);
      if (tls.mutual()) {
        AdvancedTlsX509TrustManager trust = AdvancedTlsX509TrustManager.newBuilder()
            .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
            .build();
        watches.add(trust.updateTrustCredentials(tls.clientCa().toFile(), period, TimeUnit.MILLISECONDS,
            reloader)::close);
        builder.trustManager(trust).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
      }
      log.info("gRPC port uses {} with certificate {} (re-read every {})", tls.mutual()
          ? "mutual TLS, clients verified against " + tls.clientCa() : "TLS", tls.certChain(), tls.reloadInterval());
      return new TransportSecurity(builder.build(), reloader, watches);
    } catch (GeneralSecurityException | IOException | RuntimeException e) {
      closeAll(watches);
      reloader.shutdownNow();
      throw new IOException("cannot load the TLS certificate, key or client CA: " + e.getMessage(), e);
    }
  }

  /** The credentials to build the gRPC server with. */
  public ServerCredentials credentials() {
    return credentials;
  }

  /** Whether the port is encrypted. */
  public boolean tls() {
    return reloader != null;
  }

  @Override
  public void close() {
    closeAll(watches);
    if (reloader != null) {
      reloader.shutdownNow();
    }
  }

  private static void closeAll(List<AutoCloseable> closeables) {
    for (AutoCloseable c : closeables) {
      try {
        c.close();
      } catch (Exception e) {
        log.debug("closing a certificate watch failed: {}", e.toString());
      }
    }
  }
}
