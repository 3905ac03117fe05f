package dev.ratelimit.bootstrap;

import dev.ratelimit.auth.ApiKeyAuthService;
import dev.ratelimit.auth.ApiKeyFile;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.grpc.AdminGrpcService;
import dev.ratelimit.grpc.GlobalShadowMode;
import dev.ratelimit.grpc.Listeners;
import dev.ratelimit.grpc.MalformedRequestGuard;
import dev.ratelimit.grpc.NoopRateLimitService;
import dev.ratelimit.grpc.RateLimitGrpcService;
import dev.ratelimit.grpc.Tracing;
import dev.ratelimit.ops.AdminHttpServer;
import dev.ratelimit.ops.Readiness;
import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.ConfigException;
import dev.ratelimit.policy.ConfigWatcher;
import dev.ratelimit.policy.PolicyHolder;
import dev.ratelimit.policy.PolicyLoader;
import dev.ratelimit.policy.PolicyReloader;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.AdminAccess;
import dev.ratelimit.security.TransportSecurity;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StoreBackend;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The composition root: builds the running server from {@link ServerSettings} (policy, store, engine, the public
 * gRPC port with Envoy's RateLimitService, health and reflection, the admin gRPC listener, the policy watcher and the
 * admin HTTP port) and stops it gracefully, in reverse order of start. The admin API is never served on the public
 * port. With {@link ServerSettings#noop()} the gRPC port answers OK to everything and nothing else is built.
 *
 * <p>Longer than the other classes because it is the one place that knows every part, the order they start in, and
 * how a graceful shutdown drains them; each part's own work lives in its package.
 */
public final class RateLimitServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RateLimitServer.class);
  /** How long file events must stop before a changed policy is read. */
  private static final Duration CONFIG_SETTLE = Duration.ofMillis(200);

  /** What decides, absent in noop mode. */
  private record Decisions(StoreBackend backend, PolicyHolder policy, RateLimitEngine engine,
      PolicyReloader reloader) {}

  private final ServerSettings settings;
  private final Components components = new Components();
  private final HealthStatusManager health = new HealthStatusManager();
  private Decisions decisions;
  private AdminAccess adminAccess;
  private boolean tls;
  private boolean servesApiKeys;
  private Tracing tracing;
  /** When in-flight calls of both listeners must have finished (nanoTime), set once shutdown starts. */
  private volatile long drainDeadline;
  private Server grpc;
  private Server adminGrpc;
  private AdminHttpServer admin;
  private volatile boolean started;
  private volatile boolean draining;
  private boolean closed;

  private RateLimitServer(ServerSettings settings) {
    this.settings = settings;
  }

  /** Loads the policy, opens the store and starts serving. */
  public static RateLimitServer start(ServerSettings settings, Clock clock, MeterRegistry registry)
      throws IOException, ConfigException {
    return start(settings, clock, registry, UnaryOperator.identity());
  }

  /**
   * Like {@link #start(ServerSettings, Clock, MeterRegistry)} with the opened store passed through
   * {@code storeWrapper} (instrumentation, or a slow store in shutdown tests). The wrapper's result is closed on
   * shutdown, after the store's own background work has stopped.
   */
  public static RateLimitServer start(ServerSettings settings, Clock clock, MeterRegistry registry,
      UnaryOperator<CounterStore> storeWrapper) throws IOException, ConfigException {
    RateLimitServer server = new RateLimitServer(Objects.requireNonNull(settings, "settings"));
    try {
      server.build(clock, registry, storeWrapper);
    } catch (IOException | ConfigException | RuntimeException e) {
      server.components.close();
      throw e;
    }
    server.started = true;
    server.serving();
    server.logStart();
    return server;
  }

  private void build(Clock clock, MeterRegistry registry, UnaryOperator<CounterStore> storeWrapper)
      throws IOException, ConfigException {
    TransportSecurity transport = components.add("gRPC TLS", TransportSecurity.open("gRPC port",
        settings.security().tls()));
    tls = transport.tls();
    adminAccess = components.add("admin access", AdminAccess.open(settings.adminSecurity()));
    NettyServerBuilder builder = Listeners.grpc(settings.bindAddress(), settings.grpcPort(), transport.credentials(),
        settings.security().maxRequestBytes(), health, registry, "grpc");
    Listeners.reflection().forEach(builder::addService);
    if (settings.noop()) {
      startAdminHttp(registry, null);
      // The baseline decides nothing: like the embedded store, it answers on the event loop.
      grpc = Listeners.bind("gRPC", settings.bindAddress(), settings.grpcPort(),
          () -> builder.directExecutor().addService(new NoopRateLimitService()).build().start());
      components.onStop("gRPC listener", () -> drain("gRPC", grpc));
      return;
    }
    PolicyLoader loader = new PolicyLoader();
    Map<String, String> sources =
        settings.configPath() == null ? loader.readDefault() : loader.read(settings.configPath());
    PolicyHolder policy = new PolicyHolder(loader.parse(sources));
    PolicyReloader reloader = new PolicyReloader(settings.configPath(), loader, policy, sources, clock, registry);
    startAdminHttp(registry, reloader);
    StoreBackend backend = settings.store().open(clock, registry);
    CounterStore store;
    try {
      store = Objects.requireNonNull(storeWrapper.apply(backend.store()), "the store wrapper returned null");
    } catch (RuntimeException e) {
      backend.close();
      throw e;
    }
    components.onStop("counter store", () -> {
      backend.close();
      if (store != backend.store()) {
        store.close();
      }
    });
    tracing = Tracing.open(settings.tracing()); // null when off: no SDK, no exporter, no interceptor
    if (tracing != null) {
      components.add("tracing", tracing); // stopped after the listeners drain: the last calls' spans are exported
    }
    ServiceMetrics metrics = new ServiceMetrics(registry, clock, settings.detailedMetricValues(),
        settings.nearLimitRatio());
    RateLimitEngine engine = new RateLimitEngine(policy, store, clock, settings.limits(), settings.failureMode(),
        metrics, new QuotaBook(store, new QuotaLedger(settings.quotaRate()), settings.limits().maxKeyBytes()),
        settings.security().clientAddresses(), settings.rejectedRequests(), settings.headers());
    decisions = new Decisions(backend, policy, engine, reloader);
    ServerServiceDefinition rateLimit =
        MalformedRequestGuard.guard(new RateLimitGrpcService(engine).bindService(), metrics::invalidRequest);
    if (settings.shadowMode()) {
      rateLimit = ServerInterceptors.intercept(rateLimit, new GlobalShadowMode(registry));
    }
    builder.addService(traced(rateLimit, tracing)); // the span sees the answer Envoy gets
    if (settings.apiKeys() != null) {
      ApiKeyFile apiKeys = components.add("API keys file",
          ApiKeyFile.open(settings.apiKeys(), settings.configCheckInterval(), registry));
      builder.addService(traced(new ApiKeyAuthService(apiKeys, registry).bindService(), tracing));
      servesApiKeys = true;
    }
    // A decision that never waits on I/O runs on the Netty event loop instead of paying a thread hand-off per call;
    // one that waits on the network (Redis) runs on gRPC's default executor and never blocks the event loop.
    if (backend.decidesWithoutWaiting()) {
      builder.directExecutor();
    }
    grpc = Listeners.bind("gRPC", settings.bindAddress(), settings.grpcPort(), () -> builder.build().start());
    components.onStop("gRPC listener", () -> drain("gRPC", grpc));
    if (settings.adminGrpcPort() >= 0) {
      adminGrpc = Listeners.bind("admin gRPC", settings.adminBindAddress(), settings.adminGrpcPort(),
          () -> startAdminGrpc(engine, registry));
      components.onStop("admin gRPC listener", () -> drain("admin gRPC", adminGrpc));
    }
    if (settings.configPath() != null && settings.watchConfig()) {
      components.add("policy watcher", ConfigWatcher.start(reloader, settings.configCheckInterval(), CONFIG_SETTLE));
    }
    backend.start();
    backend.onReadinessChange(this::serving); // gRPC health follows readiness (e.g. Redis unable to decide)
  }

  /** {@code service} with a span per call when tracing is on, else as it is. */
  private static ServerServiceDefinition traced(ServerServiceDefinition service, Tracing tracing) {
    return tracing == null ? service : ServerInterceptors.intercept(service, tracing.interceptor());
  }

  /**
   * The admin HTTP port, started before the store and stopped after it, so {@code /readyz} answers 503 throughout a
   * graceful shutdown.
   */
  private void startAdminHttp(MeterRegistry registry, PolicyReloader reloader)
      throws IOException {
    if (settings.adminPort() >= 0) {
      admin = components.add("admin HTTP", Listeners.bind("admin HTTP", settings.adminBindAddress(), settings.adminPort(),
          () -> AdminHttpServer.start(settings.adminBindAddress(), settings.adminPort(), registry, this::readiness,
              reloader, adminAccess)));
    }
  }

  /**
   * The admin gRPC listener: our admin API and reflection behind {@link AdminAccess} (token, client certificate), and
   * health, open so the listener can be probed. Admin calls may wait on Redis, so they run on gRPC's default executor.
   */
  private Server startAdminGrpc(RateLimitEngine engine, MeterRegistry registry)
      throws IOException {
    ServerInterceptor guard = adminAccess.interceptor();
    NettyServerBuilder builder = Listeners.grpc(settings.adminBindAddress(), settings.adminGrpcPort(),
            adminAccess.credentials(), settings.security().maxRequestBytes(), health, registry, "admin_grpc")
        .addService(ServerInterceptors.intercept(new AdminGrpcService(engine), guard));
    Listeners.reflection().forEach(service -> builder.addService(ServerInterceptors.intercept(service, guard)));
    return builder.build().start();
  }

  private void logStart() {
    if (settings.noop()) {
      log.info("started in NOOP mode (always OK, no policy, no store) on {}:{}; {}", settings.bindAddress(),
          grpc.getPort(), describeAdmin());
      return;
    }
    log.info("started on {}:{} with domains {} from {}; store: {}, failure mode {}, limits {}; {}; policy reloaded {};"
            + " drain timeout {}",
        settings.bindAddress(), grpc.getPort(),
        decisions.policy().get().domains().stream().map(d -> d.domain()).sorted().toList(),
        settings.configPath() == null ? "the embedded default policy" : settings.configPath(),
        settings.store().describe(), settings.failureMode(), settings.limits(), describeAdmin(),
        settings.configPath() == null ? "never (embedded)" : !settings.watchConfig()
            ? "only on POST /reload" : "on file change, checked every " + settings.configCheckInterval(),
        settings.drainTimeout());
    log.info("transport: {}, requests up to {} bytes, client addresses {}",
        tls ? "TLS" : "plaintext", settings.security().maxRequestBytes(),
        settings.security().clientAddresses());
    log.info("tracing: {}", tracing == null ? "off" : tracing.describe());
  }

  private String describeAdmin() {
    String bind = settings.adminBindAddress();
    return "admin HTTP " + (admin == null ? "off" : "on " + bind + ":" + admin.port())
        + "; admin gRPC " + (adminGrpc == null ? "off" : "on " + bind + ":" + adminGrpc.getPort())
        + (admin == null && adminGrpc == null ? "" : "; admin access " + adminAccess.describe());
  }

  private void serving() {
    ServingStatus status = readiness().ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    health.setStatus("", status);
    health.setStatus(RateLimitServiceGrpc.SERVICE_NAME, status);
    if (servesApiKeys) {
      health.setStatus(AuthorizationGrpc.SERVICE_NAME, status);
    }
  }

  /** The bound gRPC port. */
  public int grpcPort() {
    return grpc.getPort();
  }

  /** The bound admin HTTP port, or -1 when it is off. */
  public int adminPort() {
    return admin == null ? -1 : admin.port();
  }

  /** The bound admin gRPC port, or -1 when it is off (and always in noop mode). */
  public int adminGrpcPort() {
    return adminGrpc == null ? -1 : adminGrpc.getPort();
  }

  /** Whether spans are exported (tracing on, and not in noop mode). */
  public boolean tracing() {
    return tracing != null;
  }

  /** The store decisions go to. */
  public CounterStore store() {
    return decisions().backend().store();
  }

  /** The running policy. */
  public PolicyHolder policy() {
    return decisions().policy();
  }

  /** Reloads the policy from its files (what the watcher and {@code POST /reload} use). */
  public PolicyReloader reloader() {
    return decisions().reloader();
  }

  /** The decision engine. */
  public RateLimitEngine engine() {
    return decisions().engine();
  }

  /** Removes idle keys now, at the clock's time (what the store does on its own schedule); returns keys removed. */
  public int sweepNow() {
    return decisions().backend().sweepNow();
  }

  private Decisions decisions() {
    if (decisions == null) {
      throw new IllegalStateException("a server in noop mode has no policy, store or engine");
    }
    return decisions;
  }

  /** Ready once started, while not draining and while the store can decide. */
  public Readiness readiness() {
    if (draining) {
      return new Readiness(false, "draining: shutting down");
    }
    if (!started) {
      return new Readiness(false, "starting");
    }
    if (settings.noop()) {
      return new Readiness(true, "ready (noop mode)");
    }
    if (!decisions.backend().ready()) {
      return new Readiness(false, "the counter store cannot decide (closed, or Redis unreachable)");
    }
    return new Readiness(true, "ready");
  }

  /** Blocks until the gRPC server has terminated. */
  public void awaitTermination() throws InterruptedException {
    grpc.awaitTermination();
  }

  /**
   * Graceful shutdown: {@code /readyz} answers 503 and gRPC health turns NOT_SERVING at once, new calls are refused on
   * both gRPC listeners, in-flight calls (admin calls too: they use the store) get up to the drain timeout to finish,
   * then everything stops in reverse order of start: the store's background work, then the store (so a persisted
   * file is clean), the admin HTTP port last.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    draining = true;
    log.info("shutting down: refusing new calls, draining in-flight calls for up to {}", settings.drainTimeout());
    health.enterTerminalState();
    drainDeadline = System.nanoTime() + settings.drainTimeout().toNanos();
    grpc.shutdown();
    if (adminGrpc != null) {
      adminGrpc.shutdown();
    }
    components.close();
    log.info("stopped");
  }

  /** Waits for a shut-down listener's in-flight calls until the drain deadline, then cancels the rest. */
  private void drain(String listener, Server server) throws InterruptedException {
    server.shutdown();
    try {
      if (!server.awaitTermination(Math.max(0, drainDeadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        log.warn("in-flight {} calls did not finish within {}; cancelling them", listener, settings.drainTimeout());
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      throw e;
    }
  }
}
