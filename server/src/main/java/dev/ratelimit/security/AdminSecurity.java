package dev.ratelimit.security;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * How callers of the admin listeners (admin HTTP and admin gRPC) prove who they are (docs/security.md). Each
 * configured mechanism applies whatever the bind address; beyond loopback at least one is required
 * ({@link #requireFor(String)}).
 *
 * @param tokenFile file holding a bearer token that admin gRPC calls and the admin HTTP port's {@code GET /config}
 *     and {@code POST /reload} must present ({@code Authorization: Bearer <token>}); null for none
 * @param tls TLS on both admin listeners, mutual when {@link TlsSettings#clientCa()} is set; null for plaintext
 */
public record AdminSecurity(Path tokenFile, TlsSettings tls) {
  public AdminSecurity {
    if (tokenFile != null && !Files.isReadable(tokenFile)) {
      throw new IllegalArgumentException("cannot read the admin token file " + tokenFile);
    }
  }

  /** No token, plaintext: for loopback admin listeners only. */
  public static AdminSecurity none() {
    return new AdminSecurity(null, null);
  }

  public AdminSecurity withTokenFile(Path file) {
    return new AdminSecurity(file, tls);
  }

  public AdminSecurity withTls(TlsSettings newTls) {
    return new AdminSecurity(tokenFile, newTls);
  }

  /** True when callers must prove who they are: a bearer token, or a client certificate (mutual TLS). */
  public boolean authenticates() {
    return tokenFile != null || (tls != null && tls.mutual());
  }

  /**
   * Refuses admin listeners that anyone on the network could use: an address that is not a loopback address
   * ({@code 0.0.0.0}, {@code ::}, a pod IP) needs a token or mutual TLS.
   *
   * @throws IllegalArgumentException naming the address and the flags that fix it
   */
  public void requireFor(String bindAddress) {
    if (!authenticates() && !isLoopback(bindAddress)) {
      throw new IllegalArgumentException("the admin listeners would bind to " + bindAddress + ", which is not a"
          + " loopback address, without authentication: anyone who reaches them could change quotas and reload the"
          + " policy. Give a bearer token (--admin-token-file) or mutual TLS (--admin-tls-cert, --admin-tls-key and"
          + " --admin-tls-client-ca), or bind them to loopback (--admin-bind 127.0.0.1)");
    }
  }

  /** True for a loopback address or a name that resolves to one; false for the wildcard and anything unresolvable. */
  static boolean isLoopback(String address) {
    try {
      return InetAddress.getByName(address).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }
}
