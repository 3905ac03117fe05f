package dev.ratelimit.security;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * TLS on the gRPC port, for use outside a service mesh (inside one, the sidecar terminates mTLS and the server listens
 * in plaintext on the pod network).
 *
 * @param certChain PEM certificate chain of the server, leaf first
 * @param privateKey PEM private key of the server (PKCS#8, or PKCS#1 RSA / SEC1 EC)
 * @param clientCa PEM bundle of CAs whose client certificates are accepted; when set, every client must present one
 *     (mutual TLS). Null: clients are not asked for a certificate.
 * @param reloadInterval how often the three files are re-read, so rotated certificates (cert-manager, Vault) take
 *     effect without a restart
 */
public record TlsSettings(Path certChain, Path privateKey, Path clientCa, Duration reloadInterval) {
  public TlsSettings {
    Objects.requireNonNull(certChain, "certChain");
    Objects.requireNonNull(privateKey, "privateKey");
    Objects.requireNonNull(reloadInterval, "reloadInterval");
    if (reloadInterval.isNegative() || reloadInterval.isZero()) {
      throw new IllegalArgumentException("the TLS reload interval must be positive, not " + reloadInterval);
    }
    for (Path file : new Path[] {certChain, privateKey, clientCa}) {
      if (file != null && !Files.isReadable(file)) {
        throw new IllegalArgumentException("cannot read TLS file " + file);
      }
    }
  }

  /** Server TLS with the default reload interval of one minute; {@code clientCa} null for no client certificates. */
  public static TlsSettings of(Path certChain, Path privateKey, Path clientCa) {
    return new TlsSettings(certChain, privateKey, clientCa, Duration.ofMinutes(1));
  }

  /** True when clients must present a certificate signed by {@link #clientCa()}. */
  public boolean mutual() {
    return clientCa != null;
  }
}
