package dev.ratelimit;

import dev.ratelimit.admin.AdminHttpServer;
import dev.ratelimit.admin.ConfigWatcher;
import dev.ratelimit.admin.PolicyReloader;
import dev.ratelimit.admin.Readiness;
import dev.ratelimit.config.ConfigException;
import dev.ratelimit.config.PolicyHolder;
import dev.ratelimit.config.PolicyIndex;
import dev.ratelimit.config.PolicyLoader;
import dev.ratelimit.service.AdminGrpcService;
import dev.ratelimit.service.FailureMode;
import dev.ratelimit.service.NoopRateLimitService;
import dev.ratelimit.service.RateLimitEngine;
import dev.ratelimit.service.RateLimitGrpcService;
import dev.ratelimit.service.RequestLimits;
import dev.ratelimit.service.ServiceMetrics;
import dev.ratelimit.quota.QuotaBook;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.MalformedRequestGuard;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.security.TransportSecurity;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.Sweeper;
import dev.ratelimit.store.redis.RedisStore;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Server;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.math.BigDecimal;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running server: policy, store, gRPC services (Envoy's RateLimitService, our admin API, health, reflection), the
 * background sweeper, the policy watcher and the admin HTTP port, started together and shut down gracefully together.
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
   * @param operations the admin HTTP port, the policy watcher and metric bounds
   * @param security TLS, request size bound and client-address keying (docs/security.md)
   * @param redis the shared Redis store to use instead of the embedded one, or null for the embedded store
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
      RedisStore.Settings redis) {
    public Settings {
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
          sweepInterval, rate, operations, security, redis);
    }

    /**
     * Defaults on ephemeral loopback ports (gRPC and admin HTTP), embedded policy, in-memory store: the starting point
     * for tests.
     */
    public static Settings loopbackDefaults() {
      return new Settings("127.0.0.1", 0, null, ChronicleMapStore.Settings.defaults(), RequestLimits.defaults(),
          FailureMode.ALLOW, false, Duration.ofSeconds(10), Duration.ofSeconds(60), QuotaLedger.DEFAULT_RATE,
          Operations.defaults().withAdminPort(0), SecuritySettings.defaults(), null);
    }

    public Settings withConfigPath(Path path) {
      return new Settings(bindAddress, grpcPort, path, store, limits, failureMode, noop, drainTimeout, sweepInterval,
          quotaRate, operations, security, redis);
    }

    public Settings withStore(ChronicleMapStore.Settings newStore) {
      return new Settings(bindAddress, grpcPort, configPath, newStore, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, redis);
    }

    public Settings withSecurity(SecuritySettings newSecurity) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, newSecurity, redis);
    }

    public Settings withFailureMode(FailureMode mode) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, mode, noop, drainTimeout, sweepInterval,
          quotaRate, operations, security, redis);
    }

    /** Shares counters through Redis instead of the embedded store; null goes back to the embedded store. */
    public Settings withRedis(RedisStore.Settings newRedis) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, operations, security, newRedis);
    }

    public Settings withDrainTimeout(Duration timeout) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, timeout, sweepInterval,
          quotaRate, operations, security, redis);
    }

    public Settings withOperations(Operations ops) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate, ops, security, redis);
    }
  }

  /**
   * What operators use beside the gRPC port.
   *
   * @param adminBindAddress address of the admin HTTP port (loopback by default: it has no authentication)
   * @param adminPort admin HTTP port, 0 for an ephemeral one, -1 for none
   * @param watchConfig apply policy file changes automatically (otherwise only {@code POST /reload} does)
   * @param configCheckInterval how often the policy files' content hash is compared, besides file events
   * @param detailedMetricValues distinct descriptor values a {@code detailed_metric} rule gets metric series for
   */
  public record Operations(String adminBindAddress, int adminPort, boolean watchConfig, Duration configCheckInterval,
      int detailedMetricValues) {
    public Operations {
      Objects.requireNonNull(adminBindAddress, "adminBindAddress");
      if (adminPort < -1 || adminPort > 65_535) {
        throw new IllegalArgumentException("the admin port must be 0..65535, or -1 for none, not " + adminPort);
      }
      if (configCheckInterval.toMillis() < 1) {
        throw new IllegalArgumentException("the config check interval must be at least 1 ms");
      }
      if (detailedMetricValues < 0) {
        throw new IllegalArgumentException("detailed metric values must be at least 0, not " + detailedMetricValues);
      }
    }

    /** Admin HTTP on 127.0.0.1:9090, the policy checked every 10 s, 100 detailed values per rule. */
    public static Operations defaults() {
      return new Operations("127.0.0.1", 9090, true, Duration.ofSeconds(10), ServiceMetrics.DEFAULT_DETAILED_VALUES);
    }

    public Operations withAdminPort(int port) {
      return new Operations(adminBindAddress, port, watchConfig, configCheckInterval, detailedMetricValues);
    }

    public Operations withWatchConfig(boolean watch) {
      return new Operations(adminBindAddress, adminPort, watch, configCheckInterval, detailedMetricValues);
    }

    public Operations withConfigCheckInterval(Duration interval) {
      return new Operations(adminBindAddress, adminPort, watchConfig, interval, detailedMetricValues);
    }

    public Operations withDetailedMetricValues(int values) {
      return new Operations(adminBindAddress, adminPort, watchConfig, configCheckInterval, values);
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
  private ScheduledExecutorService background;
  private ConfigWatcher watcher;
  private AdminHttpServer admin;
  private volatile boolean draining;
  private boolean closed;

  private RateLimitServer(Settings settings, Server grpc, HealthStatusManager health, CounterStore store,
      PolicyHolder policy, RateLimitEngine engine, PolicyReloader reloader, Sweeper sweeper,
      TransportSecurity transport) {
    this.settings = settings;
    this.grpc = grpc;
    this.health = health;
    this.store = store;
    this.policy = policy;
    this.engine = engine;
    this.reloader = reloader;
    this.sweeper = sweeper;
    this.transport = transport;
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
    TransportSecurity transport = TransportSecurity.open(settings.security().tls());
    // Decisions on the embedded store take microseconds and never wait on I/O, so they run on the Netty event loop
    // instead of paying a thread hand-off per call. With Redis a decision waits on the network (up to the Redis
    // timeout), so calls run on gRPC's default executor and never block the event loop.
    // Requests above the size bound are refused (RESOURCE_EXHAUSTED) before they are parsed.
    NettyServerBuilder builder = NettyServerBuilder
        .forAddress(new InetSocketAddress(settings.bindAddress(), settings.grpcPort()), transport.credentials())
        .maxInboundMessageSize(settings.security().maxRequestBytes())
        .addService(health.getHealthService())
        .addService(ProtoReflectionServiceV1.newInstance());
    if (settings.redis() == null) {
      builder.directExecutor();
    }
    if (settings.noop()) {
      Server grpc;
      try {
        grpc = builder.addService(new NoopRateLimitService()).build().start();
      } catch (IOException | RuntimeException e) {
        transport.close();
        throw e;
      }
      RateLimitServer server = new RateLimitServer(settings, grpc, health, null, null, null, null, null, transport);
      server.startOperations(registry);
      server.serving();
      log.info("started in NOOP mode (always OK, no policy, no store) on {}:{}; admin HTTP {}", settings.bindAddress(),
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
      transport.close();
      throw e;
    }
    PolicyHolder policy = new PolicyHolder(index);
    RateLimitEngine engine;
    ServiceMetrics metrics;
    Server grpc;
    try {
      store = Objects.requireNonNull(storeWrapper.apply(store), "the store wrapper returned null");
      metrics = new ServiceMetrics(registry, clock, settings.operations().detailedMetricValues());
      engine = new RateLimitEngine(policy, store, clock, settings.limits(), settings.failureMode(), metrics,
          new QuotaBook(store, new QuotaLedger(settings.quotaRate()), settings.limits().maxKeyBytes()),
          settings.security().clientAddresses());
      grpc = builder
          .addService(MalformedRequestGuard.guard(new RateLimitGrpcService(engine).bindService(), metrics::invalidRequest))
          .addService(new AdminGrpcService(engine))
          .build()
          .start();
    } catch (IOException | RuntimeException e) {
      store.close();
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
    RateLimitServer server =
        new RateLimitServer(settings, grpc, health, store, policy, engine, reloader, sweeper, transport);
    server.startOperations(registry);
    server.serving();
    store.onReadinessChange(server::serving); // gRPC health follows readiness (e.g. Redis unable to decide)
    log.info("started on {}:{} with domains {} from {}; store: {} (max entries {}), failure mode {}, limits {}; "
            + "admin HTTP {}; policy reloaded {}; drain timeout {}; sweep every {}",
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
    return server;
  }

  /** Meters of the Redis store ({@code store} may be a test's wrapper around it: then none). */
  private static void registerRedisMeters(CounterStore store, MeterRegistry registry) {
    if (store instanceof RedisStore redisStore) {
      redisStore.bindMeters(registry);
    }
  }

  /** Starts the sweeper, the policy watcher and the admin HTTP port; on failure shuts everything down again. */
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
        admin = AdminHttpServer.start(ops.adminBindAddress(), ops.adminPort(), registry, this::readiness, reloader);
      }
    } catch (IOException | RuntimeException e) {
      close();
      throw e;
    }
  }

  private void serving() {
    ServingStatus status = readiness().ready() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    health.setStatus("", status);
    health.setStatus(RateLimitServiceGrpc.SERVICE_NAME, status);
  }

  private String describeAdmin() {
    return admin == null ? "off" : "on " + settings.operations().adminBindAddress() + ":" + admin.port();
  }

  /** The bound gRPC port. */
  public int grpcPort() {
    return grpc.getPort();
  }

  /** The bound admin HTTP port, or -1 when it is off. */
  public int adminPort() {
    return admin == null ? -1 : admin.port();
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
   * Graceful shutdown: {@code /readyz} answers 503 and gRPC health turns NOT_SERVING at once, new calls are refused,
   * in-flight calls get up to the drain timeout to finish, a running sweep completes, then the store is closed so a
   * persisted file is clean. The admin port closes last.
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
    try {
      if (!grpc.awaitTermination(settings.drainTimeout().toMillis(), TimeUnit.MILLISECONDS)) {
        log.warn("in-flight calls did not finish within {}; cancelling them", settings.drainTimeout());
        grpc.shutdownNow();
        grpc.awaitTermination(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      grpc.shutdownNow();
      Thread.currentThread().interrupt();
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
    if (store != null) {
      store.close();
    }
    if (admin != null) {
      admin.close();
    }
    transport.close();
    log.info("stopped");
  }
}
