package dev.ratelimit.security;

import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;

/**
 * The admin listeners' guard, opened from {@link AdminSecurity}: their transport (plaintext, TLS or mutual TLS, shared
 * by admin HTTP and admin gRPC) and the one decision whether a caller may use a protected endpoint
 * ({@link #refusal}): a valid client certificate when mutual TLS is on, and the bearer token when one is configured.
 * Closing it stops the certificate re-reading.
 */
public final class AdminAccess implements AutoCloseable {
  /** The gRPC metadata key of the bearer token ({@code authorization: Bearer <token>}). */
  public static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final TransportSecurity transport;
  private final Optional<BearerToken> token;

  private AdminAccess(TransportSecurity transport, Optional<BearerToken> token) {
    this.transport = transport;
    this.token = token;
  }

  /** Loads the certificates and reads the token now, failing on a bad certificate or an empty/unreadable token. */
  public static AdminAccess open(AdminSecurity settings) throws IOException {
    Optional<BearerToken> token = Optional.empty();
    if (settings.tokenFile() != null) {
      token = Optional.of(BearerToken.open(settings.tokenFile()));
    }
    return new AdminAccess(TransportSecurity.open("admin listeners", settings.tls()), token);
  }

  /** The admin gRPC listener's credentials (client certificates required when mutual TLS is on). */
  public ServerCredentials credentials() {
    return transport.credentials();
  }

  /** The admin HTTP port's TLS context, or null for plaintext HTTP. */
  public SSLContext sslContext() {
    return transport.sslContext();
  }

  /** Whether the admin HTTP port asks clients for a certificate (it needs one only for protected endpoints). */
  public boolean wantsClientCertificates() {
    return transport.mutual();
  }

  /**
   * Why a caller may not use a protected endpoint, or empty when it may.
   *
   * @param authorization the {@code Authorization} header or {@code authorization} metadata, null when absent
   * @param session the caller's TLS session, null in plaintext
   */
  public Optional<String> refusal(String authorization, SSLSession session) {
    if (transport.mutual() && !hasVerifiedPeer(session)) {
      return Optional.of("a client certificate signed by the admin client CA is required");
    }
    if (token.isPresent() && !token.get().accepts(authorization)) {
      return Optional.of(authorization == null ? "the admin bearer token is required (authorization: Bearer <token>)"
          : "the admin bearer token is not valid");
    }
    return Optional.empty();
  }

  /** Whether the HTTP port should advertise the {@code Bearer} scheme in {@code WWW-Authenticate}. */
  public boolean usesToken() {
    return token.isPresent();
  }

  /** Refuses admin gRPC calls with {@code UNAUTHENTICATED} per {@link #refusal}; wraps the admin service only. */
  public ServerInterceptor interceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
          ServerCallHandler<Q, R> next) {
        Optional<String> refused =
            refusal(headers.get(AUTHORIZATION), call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION));
        if (refused.isPresent()) {
          call.close(Status.UNAUTHENTICATED.withDescription(refused.get()), new Metadata());
          return new ServerCall.Listener<>() {};
        }
        return next.startCall(call, headers);
      }
    };
  }

  /** How the admin listeners are protected, for the start log. */
  public String describe() {
    List<String> parts = new ArrayList<>();
    parts.add(transport.mutual() ? "mutual TLS" : transport.tls() ? "TLS" : "plaintext");
    token.ifPresent(t -> parts.add("bearer token from " + t.file()));
    return String.join(", ", parts);
  }

  private static boolean hasVerifiedPeer(SSLSession session) {
    if (session == null) {
      return false;
    }
    try {
      return session.getPeerCertificates().length > 0;
    } catch (SSLPeerUnverifiedException e) {
      return false;
    }
  }

  @Override
  public void close() {
    transport.close();
  }
}
