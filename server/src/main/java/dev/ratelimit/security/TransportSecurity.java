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
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A listener's credentials: plaintext, TLS, or mutual TLS from {@link TlsSettings}, with the certificate files
 * re-read periodically so a rotated certificate is served without a restart. The same key and trust managers back
 * the gRPC credentials and, for the admin HTTP port, an {@link SSLContext}. Closing it stops the re-reading.
 */
public final class TransportSecurity implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(TransportSecurity.class);

  private final ServerCredentials credentials;
  private final SSLContext sslContext;
  private final boolean mutual;
  private final ScheduledExecutorService reloader;
  private final List<AutoCloseable> watches;

  private TransportSecurity(ServerCredentials credentials, SSLContext sslContext, boolean mutual,
      ScheduledExecutorService reloader, List<AutoCloseable> watches) {
    this.credentials = credentials;
    this.sslContext = sslContext;
    this.mutual = mutual;
    this.reloader = reloader;
    this.watches = watches;
  }

  /**
   * Plaintext when {@code tls} is null; otherwise loads the files now (failing fast on a bad file) and watches them.
   *
   * @param listener what the credentials are for, in the log and in errors ("gRPC port", "admin listeners")
   */
  public static TransportSecurity open(String listener, TlsSettings tls) throws IOException {
    if (tls == null) {
      return new TransportSecurity(InsecureServerCredentials.create(), null, false, null, List.of());
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
      AdvancedTlsX509TrustManager trust = null;
      if (tls.mutual()) {
        trust = AdvancedTlsX509TrustManager.newBuilder()
            .setVerification(AdvancedTlsX509TrustManager.Verification.CERTIFICATE_ONLY_VERIFICATION)
            .build();
        watches.add(trust.updateTrustCredentials(tls.clientCa().toFile(), period, TimeUnit.MILLISECONDS,
            reloader)::close);
        builder.trustManager(trust).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
      }
      SSLContext sslContext = SSLContext.getInstance("TLS");
      sslContext.init(new KeyManager[] {keys}, trust == null ? null : new TrustManager[] {trust}, null);
      log.info("{}: {} with certificate {} (re-read every {})", listener, tls.mutual()
          ? "mutual TLS, clients verified against " + tls.clientCa() : "TLS", tls.certChain(), tls.reloadInterval());
      return new TransportSecurity(builder.build(), sslContext, tls.mutual(), reloader, watches);
    } catch (GeneralSecurityException | IOException | RuntimeException e) {
      closeAll(watches);
      reloader.shutdownNow();
      throw new IOException("cannot load the TLS certificate, key or client CA of the " + listener + ": "
          + e.getMessage(), e);
    }
  }

  /** The credentials to build the gRPC server with. */
  public ServerCredentials credentials() {
    return credentials;
  }

  /**
   * The same certificates for a JDK TLS server (the admin HTTP port); it verifies client certificates against the
   * client CA when {@link #mutual()}. Null in plaintext.
   */
  public SSLContext sslContext() {
    return sslContext;
  }

  /** Whether the port is encrypted. */
  public boolean tls() {
    return reloader != null;
  }

  /** Whether clients must present a certificate signed by the client CA. */
  public boolean mutual() {
    return mutual;
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
