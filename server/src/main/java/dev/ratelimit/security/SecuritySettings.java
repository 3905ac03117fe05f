package dev.ratelimit.security;

import dev.ratelimit.engine.ClientAddressPolicy;
import java.util.Objects;

/**
 * Transport and input hardening of the gRPC port (docs/security.md).
 *
 * @param tls TLS or mutual TLS on the gRPC port; null for plaintext (inside a mesh, or on loopback)
 * @param maxRequestBytes largest serialized request accepted; larger ones are refused with {@code RESOURCE_EXHAUSTED}
 *     before they are parsed
 * @param clientAddresses which descriptor entries hold client IP addresses, and how they are keyed
 */
public record SecuritySettings(TlsSettings tls, int maxRequestBytes, ClientAddressPolicy clientAddresses) {
  /** 64 KiB: a request at every other limit's maximum (64 descriptors of 16 entries of 1 KiB keys) is far smaller. */
  public static final int DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

  public SecuritySettings {
    Objects.requireNonNull(clientAddresses, "clientAddresses");
    if (maxRequestBytes < 1024) {
      throw new IllegalArgumentException("the maximum request size must be at least 1024 bytes, not "
          + maxRequestBytes);
    }
  }

  /** Plaintext, 64 KiB requests, {@code remote_address} entries normalised and IPv6 clients keyed by their /64. */
  public static SecuritySettings defaults() {
    return new SecuritySettings(null, DEFAULT_MAX_REQUEST_BYTES, ClientAddressPolicy.defaults());
  }

  public SecuritySettings withTls(TlsSettings newTls) {
    return new SecuritySettings(newTls, maxRequestBytes, clientAddresses);
  }

  public SecuritySettings withMaxRequestBytes(int bytes) {
    return new SecuritySettings(tls, bytes, clientAddresses);
  }

  public SecuritySettings withClientAddresses(ClientAddressPolicy policy) {
    return new SecuritySettings(tls, maxRequestBytes, policy);
  }
}
