package dev.ratelimit.ops;

import dev.ratelimit.policy.PolicyReloader;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import com.sun.net.httpserver.HttpsServer;
import dev.ratelimit.policy.DomainPolicy;
import dev.ratelimit.policy.RateLimitRule;
import dev.ratelimit.security.AdminAccess;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operators' HTTP port (JDK {@code com.sun.net.httpserver}, two daemon threads):
 * <ul>
 *   <li>{@code GET /metrics}: Prometheus text (OpenMetrics when the scraper asks for it)
 *   <li>{@code GET /healthz}: 200 while the process runs (liveness)
 *   <li>{@code GET /readyz}: 200 when the policy is loaded and the store open, 503 otherwise and while draining
 *   <li>{@code GET /config}: the running policy: a rule summary, then each source file's text
 *   <li>{@code POST /reload}: re-read the policy now; 200 with what changed, 400 with the error
 * </ul>
 * With {@link AdminAccess} requiring a bearer token or a client certificate, {@code /config} and {@code /reload}
 * answer 401 without them; {@code /metrics}, {@code /healthz} and {@code /readyz} stay open so Prometheus and kubelet
 * probes work. With admin TLS configured the port speaks HTTPS (asking for, not requiring, a client certificate).
 * Over 250 lines only because it holds five small endpoints with their access checks and error answers.
 */
public final class AdminHttpServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(AdminHttpServer.class);
  private static final String TEXT = "text/plain; charset=utf-8";
  private static final String PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8";
  private static final String OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
  private static final Set<String> READ = Set.of("GET", "HEAD");
  private static final Set<String> WRITE = Set.of("POST");

  private final HttpServer http;
  private final ExecutorService executor;
  private final MeterRegistry registry;
  private final Supplier<Readiness> readiness;
  private final PolicyReloader reloader;
  private final AdminAccess access;

  private AdminHttpServer(HttpServer http, ExecutorService executor, MeterRegistry registry,
      Supplier<Readiness> readiness, PolicyReloader reloader, AdminAccess access) {
    this.http = http;
    this.executor = executor;
    this.registry = registry;
    this.readiness = readiness;
    this.reloader = reloader;
    this.access = access;
  }

  /**
   * Binds and starts serving.
   *
   * @param port the port, 0 for an ephemeral one
   * @param registry scraped by {@code /metrics} when it is a {@link PrometheusMeterRegistry}
   * @param reloader the policy behind {@code /config} and {@code /reload}; null when there is none (noop mode)
   * @param access TLS of the port and who may use {@code /config} and {@code /reload}
   */
  public static AdminHttpServer start(String bindAddress, int port, MeterRegistry registry,
      Supplier<Readiness> readiness, PolicyReloader reloader, AdminAccess access) throws IOException {
    Objects.requireNonNull(bindAddress, "bindAddress");
    Objects.requireNonNull(registry, "registry");
    Objects.requireNonNull(readiness, "readiness");
    Objects.requireNonNull(access, "access");
    InetSocketAddress address = new InetSocketAddress(bindAddress, port);
    HttpServer http;
    if (access.sslContext() == null) {
      http = HttpServer.create(address, 16);
    } else {
      HttpsServer https = HttpsServer.create(address, 16);
      https.setHttpsConfigurator(new HttpsConfigurator(access.sslContext()) {
        @Override
        public void configure(HttpsParameters params) {
          SSLParameters ssl = getSSLContext().getDefaultSSLParameters();
          ssl.setWantClientAuth(access.wantsClientCertificates());
          params.setSSLParameters(ssl);
        }
      });
      http = https;
    }
    AtomicInteger threads = new AtomicInteger();
    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "ratelimit-admin-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    http.setExecutor(executor);
    AdminHttpServer admin = new AdminHttpServer(http, executor, registry, readiness, reloader, access);
    http.createContext("/", admin::handle);
    http.start();
    return admin;
  }

  /** The bound port. */
  public int port() {
    return http.getAddress().getPort();
  }

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange; InputStream body = exchange.getRequestBody()) {
      body.readAllBytes(); // nothing is read from a body; drain it so the connection can be reused
      String path = exchange.getRequestURI().getPath();
      switch (path) {
        case "/metrics" -> {
          if (allowed(exchange, READ)) {
            metrics(exchange);
          }
        }
        case "/healthz" -> {
          if (allowed(exchange, READ)) {
            send(exchange, 200, TEXT, "ok\n");
          }
        }
        case "/readyz" -> {
          if (allowed(exchange, READ)) {
            Readiness r = readiness.get();
            send(exchange, r.ready() ? 200 : 503, TEXT, r.detail() + "\n");
          }
        }
        case "/config" -> {
          if (allowed(exchange, READ) && authorized(exchange)) {
            config(exchange);
          }
        }
        case "/reload" -> {
          if (allowed(exchange, WRITE) && authorized(exchange)) {
            reload(exchange);
          }
        }
        default -> send(exchange, 404, TEXT,
            "no such endpoint; try /metrics, /healthz, /readyz, /config or POST /reload\n");
      }
    } catch (IOException e) {
      log.debug("admin request failed: {}", e.toString()); // the client went away
    } catch (RuntimeException e) {
      log.warn("admin request {} failed", exchange.getRequestURI(), e);
    }
  }

  private static boolean allowed(HttpExchange exchange, Set<String> methods) throws IOException {
    if (methods.contains(exchange.getRequestMethod())) {
      return true;
    }
    exchange.getResponseHeaders().set("Allow", String.join(", ", methods.stream().sorted().toList()));
    send(exchange, 405, TEXT, exchange.getRequestMethod() + " is not allowed here\n");
    return false;
  }

  /** Answers 401 unless {@link AdminAccess} lets the caller use a protected endpoint. */
  private boolean authorized(HttpExchange exchange) throws IOException {
    SSLSession session = exchange instanceof HttpsExchange https ? https.getSSLSession() : null;
    Optional<String> refused = access.refusal(exchange.getRequestHeaders().getFirst("Authorization"), session);
    if (refused.isEmpty()) {
      return true;
    }
    if (access.usesToken()) {
      exchange.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"ratelimit-admin\"");
    }
    send(exchange, 401, TEXT, "unauthorized: " + refused.get() + "\n");
    return false;
  }

  private void metrics(HttpExchange exchange) throws IOException {
    if (!(registry instanceof PrometheusMeterRegistry prometheus)) {
      send(exchange, 501, TEXT, "metrics are not kept in a Prometheus registry in this process\n");
      return;
    }
    String accept = exchange.getRequestHeaders().getFirst("Accept");
    boolean openMetrics = accept != null && accept.contains("application/openmetrics-text");
    String contentType = openMetrics ? OPENMETRICS : PROMETHEUS_TEXT;
    send(exchange, 200, contentType, prometheus.scrape(contentType));
  }

  private void config(HttpExchange exchange) throws IOException {
    if (reloader == null) {
      send(exchange, 404, TEXT, "no policy: the server runs in noop mode\n");
      return;
    }
    PolicyReloader.Snapshot snapshot = reloader.current();
    StringBuilder out = new StringBuilder();
    out.append("# policy from ").append(snapshot.location() == null ? "the embedded default policy"
        : snapshot.location()).append('\n');
    out.append("# loaded at ").append(snapshot.loadedAt()).append(", sha256 ").append(snapshot.sha256()).append('\n');
    for (DomainPolicy domain : snapshot.index().domains().stream()
        .sorted(Comparator.comparing(DomainPolicy::domain)).toList()) {
      out.append("# domain ").append(domain.domain()).append(" (").append(domain.source()).append("): ")
          .append(domain.rulesById().size()).append(" rules\n");
      domain.rulesById().values().stream().sorted(Comparator.comparing(RateLimitRule::id))
          .forEach(rule -> out.append("#   ").append(describe(rule)).append('\n'));
      for (String warning : domain.warnings()) {
        out.append("#   warning: ").append(warning).append('\n');
      }
    }
    for (Map.Entry<String, String> source : snapshot.sources().entrySet()) {
      out.append("\n--- ").append(source.getKey()).append('\n').append(source.getValue());
      if (!source.getValue().endsWith("\n")) {
        out.append('\n');
      }
    }
    send(exchange, 200, TEXT, out.toString());
  }

  /** One rule on one line: id, name, limit and algorithm, and the flags that change its behaviour. */
  static String describe(RateLimitRule rule) {
    StringBuilder s = new StringBuilder(rule.id());
    if (!rule.name().equals(rule.id())) {
      s.append(" name=").append(rule.name());
    }
    if (rule.unlimited()) {
      s.append(" unlimited");
    } else {
      s.append(' ').append(rule.requestsPerUnit()).append(" per ").append(duration(rule.window())).append(' ')
          .append(rule.limiter());
    }
    if (rule.shadowMode()) {
      s.append(" shadow_mode");
    }
    if (rule.detailedMetric()) {
      s.append(" detailed_metric");
    }
    if (!rule.replaces().isEmpty()) {
      s.append(" replaces=").append(rule.replaces());
    }
    return s.toString();
  }

  /** A window as written in a policy: {@code 1d}, {@code 1h}, {@code 1m}, {@code 10s} or {@code 250ms}. */
  static String duration(Duration d) {
    long ms = d.toMillis();
    for (long[] unit : new long[][] {{86_400_000, 'd'}, {3_600_000, 'h'}, {60_000, 'm'}, {1_000, 's'}}) {
      if (ms % unit[0] == 0) {
        return ms / unit[0] + String.valueOf((char) unit[1]);
      }
    }
    return ms + "ms";
  }

  private void reload(HttpExchange exchange) throws IOException {
    if (reloader == null) {
      send(exchange, 404, TEXT, "no policy: the server runs in noop mode\n");
      return;
    }
    PolicyReloader.Result result = reloader.reload("POST /reload");
    int status = result.status() == PolicyReloader.Status.REJECTED ? 400 : 200;
    send(exchange, status, TEXT, result.describe() + "\n");
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    exchange.getResponseHeaders().set("Cache-Control", "no-store");
    boolean head = "HEAD".equals(exchange.getRequestMethod());
    exchange.sendResponseHeaders(status, head ? -1 : bytes.length == 0 ? -1 : bytes.length);
    if (!head && bytes.length > 0) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    }
  }

  /** Stops accepting and closes open exchanges; called last in shutdown so {@code /readyz} reports the drain. */
  @Override
  public void close() {
    http.stop(0);
    executor.shutdownNow();
  }
}
