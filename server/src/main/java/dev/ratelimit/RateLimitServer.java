package dev.ratelimit;

import dev.ratelimit.admin.AdminHttpServer;
import dev.ratelimit.auth.ApiKeyAuthService;
import dev.ratelimit.auth.ApiKeyFile;
import dev.ratelimit.admin.ConfigWatcher;
import dev.ratelimit.admin.PolicyReloader;
import dev.ratelimit.admin.Readiness;
import dev.ratelimit.config.ConfigException;
import dev.ratelimit.config.PolicyHolder;
import dev.ratelimit.config.PolicyIndex;
import dev.ratelimit.config.PolicyLoader;
import dev.ratelimit.config.RejectedRequests;
import dev.ratelimit.grpc.Tracing;
import dev.ratelimit.grpc.TracingSettings;
import dev.ratelimit.service.AdminGrpcService;
import dev.ratelimit.service.FailureMode;
import dev.ratelimit.service.GlobalShadowMode;
import dev.ratelimit.service.GrpcCallMetrics;
import dev.ratelimit.service.NoopRateLimitService;
import dev.ratelimit.service.RateLimitEngine;
import dev.ratelimit.service.RateLimitGrpcService;
import dev.ratelimit.service.RequestLimits;
import dev.ratelimit.service.ResponseHeaders;
import dev.ratelimit.service.ServiceMetrics;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.AdminAccess;
import dev.ratelimit.security.AdminSecurity;
import dev.ratelimit.security.MalformedRequestGuard;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.security.TransportSecurity;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.Sweeper;
import dev.ratelimit.store.redis.RedisStore;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.BindableService;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running server: policy, store, the public gRPC port (Envoy's RateLimitService, health, reflection v1 and
 * v1alpha), the admin gRPC listener (our admin API, health), the background sweeper, the policy watcher and the admin
 * HTTP port, started together and shut down gracefully together. The admin API is never served on the public port.
 */
public final class RateLimitServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RateLimitServer.class);
  /** How long file events must stop before a changed policy is read. */
  private static final Duration CONFIG_SETTLE = Duration.ofMillis(200);

  /**
   * Everything the server is started with.
   *
   * @param bindAddress address of the gRPC port ({@code 0.0.0.0} for all)
   * @param grpcPort gRPC port, 0 for an ephemeral one
   * @param configPath policy file or directory, null for the embedded default policy
   * @param store sizing and data file of the embedded store
   * @param limits bounds on one request
   * @param failureMode answer when the store cannot decide
   * @param noop answer OK to everything with no policy or store (benchmark baseline)
   * @param drainTimeout how long shutdown waits for in-flight calls
   * @param sweepInterval how often idle keys are removed
   * @param quotaRate added requests per US dollar of an organisation's 24 h volume, for {@code dynamic} rules
   * @param operations the admin HTTP port, the admin gRPC listener, the policy watcher and metric bounds
   * @param security TLS, request size bound and client-address keying (docs/security.md)
   * @param redis the shared Redis store to use instead of the embedded one, or null for the embedded store
   * @param rejectedRequests what a rejected request leaves in its other descriptors' counters, for domains that do
   *     not say ({@code rejected_requests})
   * @param edge the API-key resolver, response headers, global shadow mode and near-limit ratio
   */
  public record Settings(
      String bindAddress,
      int grpcPort,
      Path configPath,
      ChronicleMapStore.Settings store,
      RequestLimits limits,
      FailureMode failureMode,
      boolean noop,
      Duration drainTimeout,
      Duration sweepInterval,
      BigDecimal quotaRate,
      Operations operations,
      SecuritySettings security,
      RedisStore.Settings redis,
      RejectedRequests rejectedRequests,
      Edge edge) {
    public Settings {
      Objects.requireNonNull(rejectedRequests, "rejectedRequests");
      Objects.requireNonNull(edge, "edge");
      Objects.requireNonNull(bindAddress, "bindAddress");
      Objects.requireNonNull(store, "store");
      Objects.requireNonNull(limits, "limits");
      Objects.requireNonNull(failureMode, "failureMode");
      Objects.requireNonNull(drainTimeout, "drainTimeout");
      Objects.requireNonNull(sweepInterval, "sweepInterval");
      Objects.requireNonNull(quotaRate, "quotaRate");
      Objects.requireNonNull(operations, "operations");
      Objects.requireNonNull(security, "security");
      if (quotaRate.signum() < 0) {
        throw new IllegalArgumentException("the quota rate must be at least 0, not " + quotaRate);
      }
      if (sweepInterval.toMillis() < 1) {
        throw new IllegalArgumentException("the sweep interval must be at least 1 ms, not " + sweepInterval);
      }
    }

    public Settings withQuotaRate(BigDecimal rate) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, rate, operations, security, redis, rejectedRequests, edge);
    }

    /**
     * Defaults on ephemeral loopback ports (gRPC, admin HTTP and admin gRPC), embedded policy, in-memory store: the
     * starting point for tests.
     */
    public static Settings loopbackDefaults() {
      return new Settings("127.0.0.1", 0, null, ChronicleMapStore.Settings.defaults(), RequestLimits.defaults(),
          FailureMode.ALLOW, false, Duration.ofSeconds(10), Duration.ofSeconds(60), QuotaLedger.DEFAULT_RATE,
          Operations.defaults().withAdminPort(0).withAdminGrpcPort(0), SecuritySettings.defaults(), null,
          RejectedRequests.COUNT_NOWHERE, Edge.defaults());
    }

    public Settings withConfigPath(Path path) {
      return new Settings(bindAddress, grpcPort, path, store, limits, failureMode, noop, drainTimeout, sweepInterval,
          quotaRate, operations, security, redis, rejectedRequests, edge);
    }

    public Settings withStore(ChronicleMapStore.Settings newStore) {
      return new Settings(bindAddress, grpcPort, configPath, newStore, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, redis, rejectedRequests, edge);
    }

    public Settings withSecurity(SecuritySettings newSecurity) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, newSecurity, redis, rejectedRequests, edge);
    }

    public Settings withFailureMode(FailureMode mode) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, mode, noop, drainTimeout, sweepInterval,
          quotaRate, operations, security, redis, rejectedRequests, edge);
    }

    /** Shares counters through Redis instead of the embedded store; null goes back to the embedded store. */
    public Settings withRedis(RedisStore.Settings newRedis) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, newRedis, rejectedRequests, edge);
    }

    public Settings withDrainTimeout(Duration timeout) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, timeout, sweepInterval,
          quotaRate, operations, security, redis, rejectedRequests, edge);
    }

    public Settings withRejectedRequests(RejectedRequests value) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, redis, value, edge);
    }

    public Settings withEdge(Edge value) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, redis, rejectedRequests, value);
    }

    public Settings withOperations(Operations ops) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, ops, security, redis, rejectedRequests, edge);
    }
  }

  /**
   * What the server offers at the edge, beside rate-limit decisions.
   *
   * @param apiKeys the API keys file of the ext_authz resolver ({@code envoy.service.auth.v3.Authorization} on the
   *     gRPC port), re-read when it changes (checked every {@link Operations#configCheckInterval}); null: not served
   * @param headers the response header contract
   * @param shadowMode every answer is OK (decided, counted and reported as usual otherwise)
   * @param nearLimitRatio share of a limit from which admitted hits count as near the limit, in the metrics
   */
  public record Edge(Path apiKeys, ResponseHeaders headers, boolean shadowMode, double nearLimitRatio) {
    public Edge {
      Objects.requireNonNull(headers, "headers");
      if (!(nearLimitRatio >= 0 && nearLimitRatio <= 1)) {
        throw new IllegalArgumentException("--near-limit-ratio must be between 0 and 1, not " + nearLimitRatio);
      }
    }

    /** No API keys, today's {@code x-ratelimit-*} headers with {@code retry-after}, enforcing, ratio 0.8. */
    public static Edge defaults() {
      return new Edge(null, ResponseHeaders.defaults(), false, ServiceMetrics.DEFAULT_NEAR_LIMIT_RATIO);
    }

    public Edge withApiKeys(Path path) {
      return new Edge(path, headers, shadowMode, nearLimitRatio);
    }

    public Edge withHeaders(ResponseHeaders value) {
      return new Edge(apiKeys, value, shadowMode, nearLimitRatio);
    }

    public Edge withShadowMode(boolean value) {
      return new Edge(apiKeys, headers, value, nearLimitRatio);
    }

    public Edge withNearLimitRatio(double value) {
      return new Edge(apiKeys, headers, shadowMode, value);
    }
  }

  /**
   * What operators use beside the gRPC port.
   *
   * @param adminBindAddress address of the admin HTTP port and the admin gRPC listener (loopback by default; beyond
   *     loopback {@code adminSecurity} must authenticate callers)
   * @param adminPort admin HTTP port, 0 for an ephemeral one, -1 for none
   * @param adminGrpcPort admin gRPC listener ({@code ratelimit.admin.v1.RateLimitAdmin} and health), 0 for an
   *     ephemeral one, -1 for none
   * @param adminSecurity bearer token and TLS of both admin listeners
   * @param watchConfig apply policy file changes automatically (otherwise only {@code POST /reload} does)
   * @param configCheckInterval how often the policy files' content hash is compared, besides file events
   * @param detailedMetricValues distinct descriptor values a {@code detailed_metric} rule gets metric series for
   * @param tracing OpenTelemetry spans of {@code ShouldRateLimit} and ext_authz {@code Check} (off by default)
   */
  public record Operations(String adminBindAddress, int adminPort, int adminGrpcPort, AdminSecurity adminSecurity,
      boolean watchConfig, Duration configCheckInterval, int detailedMetricValues, TracingSettings tracing) {
    public Operations {
      Objects.requireNonNull(tracing, "tracing");
      Objects.requireNonNull(adminBindAddress, "adminBindAddress");
      Objects.requireNonNull(adminSecurity, "adminSecurity");
      if (adminPort < -1 || adminPort > 65_535) {
        throw new IllegalArgumentException("the admin port must be 0..65535, or -1 for none, not " + adminPort);
      }
      if (adminGrpcPort < -1 || adminGrpcPort > 65_535) {
        throw new IllegalArgumentException("the admin gRPC port must be 0..65535, or -1 for none, not "
            + adminGrpcPort);
      }
      if (adminPort >= 0 || adminGrpcPort >= 0) {
        adminSecurity.requireFor(adminBindAddress);
      }
      if (configCheckInterval.toMillis() < 1) {
        throw new IllegalArgumentException("the config check interval must be at least 1 ms");
      }
      if (detailedMetricValues < 0) {
        throw new IllegalArgumentException("detailed metric values must be at least 0, not " + detailedMetricValues);
      }
    }

    /** Without tracing. */
    public Operations(String adminBindAddress, int adminPort, int adminGrpcPort, AdminSecurity adminSecurity,
        boolean watchConfig, Duration configCheckInterval, int detailedMetricValues) {
      this(adminBindAddress, adminPort, adminGrpcPort, adminSecurity, watchConfig, configCheckInterval,
          detailedMetricValues, TracingSettings.off());
    }

    /**
     * Admin HTTP on 127.0.0.1:9090 and admin gRPC on 127.0.0.1:9091 without token or TLS, the policy checked every
     * 10 s, 100 detailed values per rule.
     */
    public static Operations defaults() {
      return new Operations("127.0.0.1", 9090, 9091, AdminSecurity.none(), true, Duration.ofSeconds(10),
          ServiceMetrics.DEFAULT_DETAILED_VALUES);
    }

    /** Another bind address for both admin listeners; set {@link #withAdminSecurity} first when it is not loopback. */
    public Operations withAdminBindAddress(String address) {
      return new Operations(address, adminPort, adminGrpcPort, adminSecurity, watchConfig, configCheckInterval,
          detailedMetricValues, tracing);
    }

    public Operations withAdminPort(int port) {
      return new Operations(adminBindAddress, port, adminGrpcPort, adminSecurity, watchConfig, configCheckInterval,
          detailedMetricValues, tracing);
    }

    public Operations withAdminGrpcPort(int port) {
      return new Operations(adminBindAddress, adminPort, port, adminSecurity, watchConfig, configCheckInterval,
          detailedMetricValues, tracing);
    }

    public Operations withAdminSecurity(AdminSecurity security) {
      return new Operations(adminBindAddress, adminPort, adminGrpcPort, security, watchConfig, configCheckInterval,
          detailedMetricValues, tracing);
    }

    public Operations withWatchConfig(boolean watch) {
      return new Operations(adminBindAddress, adminPort, adminGrpcPort, adminSecurity, watch, configCheckInterval,
          detailedMetricValues, tracing);
    }

    public Operations withConfigCheckInterval(Duration interval) {
      return new Operations(adminBindAddress, adminPort, adminGrpcPort, adminSecurity, watchConfig, interval,
          detailedMetricValues, tracing);
    }

    public Operations withTracing(TracingSettings value) {
      return new Operations(adminBindAddress, adminPort, adminGrpcPort, adminSecurity, watchConfig,
          configCheckInterval, detailedMetricValues, value);
    }

    public Operations withDetailedMetricValues(int values) {
      return new Operations(adminBindAddress, adminPort, adminGrpcPort, adminSecurity, watchConfig,
          configCheckInterval, values, tracing);
    }
  }

  private final Settings settings;
  private final Server grpc;
  private final HealthStatusManager health;
  private final CounterStore store;
  private final PolicyHolder policy;
  private final RateLimitEngine engine;
  private final PolicyReloader reloader;
  private final Sweeper sweeper;
  private final TransportSecurity transport;
  private final AdminAccess adminAccess;
  private final ApiKeyFile apiKeys;
  private final Tracing tracing;
  private ScheduledExecutorService background;
  private ConfigWatcher watcher;
  private AdminHttpServer admin;
  private Server adminGrpc;
  private volatile boolean draining;
  private boolean closed;

  private RateLimitServer(Settings settings, Server grpc, HealthStatusManager health, CounterStore store,
      PolicyHolder policy, RateLimitEngine engine, PolicyReloader reloader, Sweeper sweeper,
      TransportSecurity transport, AdminAccess adminAccess, ApiKeyFile apiKeys, Tracing tracing) {
    this.apiKeys = apiKeys;
    this.tracing = tracing;
    this.settings = settings;
    this.grpc = grpc;
    this.health = health;
    this.store = store;
    this.policy = policy;
    this.engine = engine;
    this.reloader = reloader;
    this.sweeper = sweeper;
    this.transport = transport;
    this.adminAccess = adminAccess;
  }

  /** Loads the policy, opens the store and starts serving. */
  public static RateLimitServer start(Settings settings, Clock clock, MeterRegistry registry)
      throws IOException, ConfigException {
    return start(settings, clock, registry, UnaryOperator.identity());
  }

  /**
   * Like {@link #start(Settings, Clock, MeterRegistry)} with the opened store passed through {@code storeWrapper}
   * (instrumentation, or a slow store in shutdown tests). The wrapper's result is closed on shutdown.
   */
  public static RateLimitServer start(Settings settings, Clock clock, MeterRegistry registry,
      UnaryOperator<CounterStore> storeWrapper) throws IOException, ConfigException {
    HealthStatusManager health = new HealthStatusManager();
    TransportSecurity transport = TransportSecurity.open("gRPC port", settings.security().tls());
    AdminAccess adminAccess;
    try {
      adminAccess = AdminAccess.open(settings.operations().adminSecurity());
    } catch (IOException | RuntimeException e) {
      transport.close();
      throw e;
    }
    // Decisions on the embedded store take microseconds and never wait on I/O, so they run on the Netty event loop
    // instead of paying a thread hand-off per call. With Redis a decision waits on the network (up to the Redis
    // timeout), so calls run on gRPC's default executor and never block the event loop.
    // Requests above the size bound are refused (RESOURCE_EXHAUSTED) before they are parsed.
    // Reflection answers in both versions: v1, and v1alpha that ghz and older grpcurl ask for.
    NettyServerBuilder builder = NettyServerBuilder
        .forAddress(new InetSocketAddress(settings.bindAddress(), settings.grpcPort()), transport.credentials())
        .maxInboundMessageSize(settings.security().maxRequestBytes())
        .addService(health.getHealthService())
        .intercept(new GrpcCallMetrics(registry, "grpc"));
    reflection().forEach(builder::addService);
    if (settings.redis() == null) {
      builder.directExecutor();
    }
    if (settings.noop()) {
      Server grpc;
      try {
        grpc = listen("gRPC", settings.bindAddress(), settings.grpcPort(),
            () -> builder.addService(new NoopRateLimitService()).build().start());
      } catch (IOException | RuntimeException e) {
        adminAccess.close();
        transport.close();
        throw e;
      }
      RateLimitServer server =
          new RateLimitServer(settings, grpc, health, null, null, null, null, null, transport, adminAccess, null,
              null);
      server.startOperations(registry);
      server.serving();
      log.info("started in NOOP mode (always OK, no policy, no store) on {}:{}; {}", settings.bindAddress(),
          grpc.getPort(), server.describeAdmin());
      return server;
    }
    PolicyLoader loader = new PolicyLoader();
    Map<String, String> sources;
    PolicyIndex index;
    CounterStore store;
    try {
      sources = settings.configPath() == null ? loader.readDefault() : loader.read(settings.configPath());
      index = loader.parse(sources);
      store = settings.redis() == null ? ChronicleMapStore.open(settings.store()) : RedisStore.open(settings.redis());
    } catch (IOException | ConfigException | RuntimeException e) {
      adminAccess.close();
      transport.close();
      throw e;
    }
    PolicyHolder policy = new PolicyHolder(index);
    RateLimitEngine engine;
    ServiceMetrics metrics;
    Server grpc;
    ApiKeyFile apiKeys = null;
    Tracing tracing = null;
    Edge edge = settings.edge();
    try {
      tracing = Tracing.open(settings.operations().tracing()); // null when off: no SDK, no exporter, no interceptor
      store = Objects.requireNonNull(storeWrapper.apply(store), "the store wrapper returned null");
      metrics = new ServiceMetrics(registry, clock, settings.operations().detailedMetricValues(),
          edge.nearLimitRatio());
      engine = new RateLimitEngine(policy, store, clock, settings.limits(), settings.failureMode(), metrics,
          new QuotaBook(store, new QuotaLedger(settings.quotaRate()), settings.limits().maxKeyBytes()),
          settings.security().clientAddresses(), settings.rejectedRequests(), edge.headers());
      ServerServiceDefinition rateLimit =
          MalformedRequestGuard.guard(new RateLimitGrpcService(engine).bindService(), metrics::invalidRequest);
      if (edge.shadowMode()) {
        rateLimit = ServerInterceptors.intercept(rateLimit, new GlobalShadowMode(registry));
      }
      builder.addService(traced(rateLimit, tracing)); // the span sees the answer Envoy gets
      if (edge.apiKeys() != null) {
        apiKeys = ApiKeyFile.open(edge.apiKeys(), settings.operations().configCheckInterval(), registry);
        builder.addService(traced(new ApiKeyAuthService(apiKeys, registry).bindService(), tracing));
      }
      grpc = listen("gRPC", settings.bindAddress(), settings.grpcPort(), () -> builder.build().start());
    } catch (IOException | ConfigException | RuntimeException e) {
      if (apiKeys != null) {
        apiKeys.close();
      }
      if (tracing != null) {
        tracing.close();
      }
      store.close();
      adminAccess.close();
      transport.close();
      throw e;
    }
    PolicyReloader reloader = new PolicyReloader(settings.configPath(), loader, policy, sources, clock, registry);
    // Redis expires keys by itself: no sweeper, and the embedded store's gauges do not apply.
    Sweeper sweeper = settings.redis() != null ? null
        : new Sweeper(store, settings.store().maxEntries(), clock, registry);
    if (settings.redis() != null) {
      registerRedisMeters(store, registry);
    }
    RateLimitServer server = new RateLimitServer(settings, grpc, health, store, policy, engine, reloader, sweeper,
        transport, adminAccess, apiKeys, tracing);
    server.startOperations(registry);
    server.serving();
    store.onReadinessChange(server::serving); // gRPC health follows readiness (e.g. Redis unable to decide)
    log.info("started on {}:{} with domains {} from {}; store: {} (max entries {}), failure mode {}, limits {}; "
            + "{}; policy reloaded {}; drain timeout {}; sweep every {}",
        settings.bindAddress(), grpc.getPort(),
        index.domains().stream().map(d -> d.domain()).sorted().toList(),
        settings.configPath() == null ? "the embedded default policy" : settings.configPath(),
        settings.redis() != null ? "Redis at " + settings.redis().uri()
            : settings.store().dataFile() == null ? "in memory" : settings.store().dataFile(),
        settings.redis() != null ? "n/a" : settings.store().maxEntries(), settings.failureMode(), settings.limits(),
        server.describeAdmin(),
        settings.configPath() == null ? "never (embedded)" : !settings.operations().watchConfig()
            ? "only on POST /reload" : "on file change, checked every " + settings.operations().configCheckInterval(),
        settings.drainTimeout(), settings.sweepInterval());
    log.info("transport: {}, requests up to {} bytes, client addresses {}", transport.tls() ? "TLS" : "plaintext",
        settings.security().maxRequestBytes(), settings.security().clientAddresses());
    log.info("tracing: {}", tracing == null ? "off" : tracing.describe());
    return server;
  }

  /** {@code service} with a span per call when tracing is on, else as it is. */
  private static ServerServiceDefinition traced(ServerServiceDefinition service, Tracing tracing) {
    return tracing == null ? service : ServerInterceptors.intercept(service, tracing.interceptor());
  }

  /** Server reflection in both versions: v1, and the deprecated v1alpha that ghz and older grpcurl ask for. */
  @SuppressWarnings("deprecation")
  private static List<BindableService> reflection() {
    return List.of(ProtoReflectionServiceV1.newInstance(), ProtoReflectionService.newInstance());
  }

  /** Starting a listener, which may fail to bind. */
  private interface Listen<T> {
    T start() throws IOException;
  }

  /**
   * Starts a listener; a bind failure (port in use, address not local) is reported with the listener's name and
   * address rather than the transport's wording, e.g. "cannot listen for admin gRPC on 127.0.0.1:9091: Address
   * already in use".
   */
  private static <T> T listen(String listener, String address, int port, Listen<T> start) throws IOException {
    try {
      return start.start();
    } catch (IOException e) {
      Throwable cause = e;
      while (cause.getCause() != null) {
        cause = cause.getCause();
      }
      throw new IOException("cannot listen for " + listener + " on " + address + ":" + port + ": "
          + cause.getMessage(), e);
    }
  }

  /** Meters of the Redis store ({@code store} may be a test's wrapper around it: then none). */
  private static void registerRedisMeters(CounterStore store, MeterRegistry registry) {
    if (store instanceof RedisStore redisStore) {
      redisStore.bindMeters(registry);
    }
  }

  /**
   * Starts the sweeper, the policy watcher, the admin HTTP port and the admin gRPC listener (not in noop mode: there
   * is no engine to administer); on failure shuts everything down again.
   */
  private synchronized void startOperations(MeterRegistry registry) throws IOException {
    Operations ops = settings.operations();
    try {
      if (sweeper != null) {
        background = Executors.newSingleThreadScheduledExecutor(r -> {
          Thread t = new Thread(r, "ratelimit-sweeper");
          t.setDaemon(true);
          return t;
        });
        long sweepMillis = settings.sweepInterval().toMillis();
        background.scheduleWithFixedDelay(sweeper::sweep, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
      }
      if (reloader != null && settings.configPath() != null && ops.watchConfig()) {
        watcher = ConfigWatcher.start(reloader, ops.configCheckInterval(), CONFIG_SETTLE);
      }
      if (ops.adminPort() >= 0) {
        admin = listen("admin HTTP", ops.adminBindAddress(), ops.adminPort(), () -> AdminHttpServer.start(
            ops.adminBindAddress(), ops.adminPort(), registry, this::readiness, reloader, adminAccess));
      }
      if (engine != null && ops.adminGrpcPort() >= 0) {
        adminGrpc = listen("admin gRPC", ops.adminBindAddress(), ops.adminGrpcPort(), () -> startAdminGrpc(registry));
      }
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  /**
   * The admin gRPC listener: our admin API and reflection behind {@link AdminAccess} (token, client certificate), and
   * health, open so the listener can be probed. Admin calls may wait on Redis, so they run on gRPC's default executor.
   */
  private Server startAdminGrpc(MeterRegistry registry) throws IOException {
    Operations ops = settings.operations();
    ServerInterceptor guard = adminAccess.interceptor();
    NettyServerBuilder builder = NettyServerBuilder
        .forAddress(new InetSocketAddress(ops.adminBindAddress(), ops.adminGrpcPort()), adminAccess.credentials())
        .maxInboundMessageSize(settings.security().maxRequestBytes())
        .addService(health.getHealthService())
        .addService(ServerInterceptors.intercept(new AdminGrpcService(engine), guard))
        .intercept(new GrpcCallMetrics(registry, "admin_grpc"));
    reflection().forEach(service -> builder.addService(ServerInterceptors.intercept(service, guard)));
    return builder.build().start();
  }

  private void serving() {
    ServingStatus status = readiness().ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    health.setStatus("", status);
    health.setStatus(RateLimitServiceGrpc.SERVICE_NAME, status);
    if (apiKeys != null) {
      health.setStatus(AuthorizationGrpc.SERVICE_NAME, status);
    }
  }

  private String describeAdmin() {
    String bind = settings.operations().adminBindAddress();
    return "admin HTTP " + (admin == null ? "off" : "on " + bind + ":" + admin.port())
        + "; admin gRPC " + (adminGrpc == null ? "off" : "on " + bind + ":" + adminGrpc.getPort())
        + (admin == null && adminGrpc == null ? "" : "; admin access " + adminAccess.describe());
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

  /** The store, or null in noop mode. */
  public CounterStore store() {
    return store;
  }

  /** The running policy, or null in noop mode. */
  public PolicyHolder policy() {
    return policy;
  }

  /** Reloads the policy from its files (what the watcher and {@code POST /reload} use), or null in noop mode. */
  public PolicyReloader reloader() {
    return reloader;
  }

  /** Whether spans are exported (tracing on, and not in noop mode). */
  public boolean tracing() {
    return tracing != null;
  }

  /** The decision engine, or null in noop mode. */
  public RateLimitEngine engine() {
    return engine;
  }

  /** Runs the sweeper now, at the clock's time (what the schedule does every sweep interval); returns keys removed. */
  public int sweepNow() {
    return sweeper == null ? 0 : sweeper.sweep();
  }

  /** Ready while not draining and the store is open (the policy is loaded before the server starts). */
  public Readiness readiness() {
    if (draining) {
      return new Readiness(false, "draining: shutting down");
    }
    if (store != null && !store.isOpen()) {
      return new Readiness(false, "the counter store cannot decide (closed, or Redis unreachable)");
    }
    return new Readiness(true, store == null ? "ready (noop mode)" : "ready");
  }

  /** Blocks until the gRPC server has terminated. */
  public void awaitTermination() throws InterruptedException {
    grpc.awaitTermination();
  }

  /**
   * Graceful shutdown: {@code /readyz} answers 503 and gRPC health turns NOT_SERVING at once, new calls are refused on
   * both gRPC listeners, in-flight calls (admin calls too: they use the store) get up to the drain timeout to finish,
   * a running sweep completes, then the store is closed so a persisted file is clean. The admin HTTP port closes last.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    draining = true;
    log.info("shutting down: refusing new calls, draining in-flight calls for up to {}", settings.drainTimeout());
    if (watcher != null) {
      watcher.close();
    }
    health.enterTerminalState();
    grpc.shutdown();
    if (adminGrpc != null) {
      adminGrpc.shutdown();
    }
    long deadline = System.nanoTime() + settings.drainTimeout().toNanos();
    drain("gRPC", grpc, deadline);
    if (adminGrpc != null) {
      drain("admin gRPC", adminGrpc, deadline);
    }
    if (background != null) {
      background.shutdown();
      try {
        if (!background.awaitTermination(10, TimeUnit.SECONDS)) {
          log.warn("a sweep is still running; closing the store under it");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (apiKeys != null) {
      apiKeys.close();
    }
    if (tracing != null) {
      tracing.close(); // after the drain: the last calls' spans are exported too
    }
    if (store != null) {
      store.close();
    }
    if (admin != null) {
      admin.close();
    }
    adminAccess.close();
    transport.close();
    log.info("stopped");
  }

  /** Waits for a shut-down listener's in-flight calls until {@code deadline} (nanoTime), then cancels the rest. */
  private void drain(String listener, Server server, long deadline) {
    try {
      if (!server.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
        log.warn("in-flight {} calls did not finish within {}; cancelling them", listener, settings.drainTimeout());
        server.shutdownNow();
        server.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      server.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }
}
