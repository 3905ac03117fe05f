package dev.ratelimit;

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
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterStore;
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
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The running server: policy, store, gRPC services (Envoy's RateLimitService, our admin API, health, reflection) and
 * the background sweeper, started together and shut down gracefully together.
 */
public final class RateLimitServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RateLimitServer.class);

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
      BigDecimal quotaRate) {
    public Settings {
      Objects.requireNonNull(bindAddress, "bindAddress");
      Objects.requireNonNull(store, "store");
      Objects.requireNonNull(limits, "limits");
      Objects.requireNonNull(failureMode, "failureMode");
      Objects.requireNonNull(drainTimeout, "drainTimeout");
      Objects.requireNonNull(sweepInterval, "sweepInterval");
      Objects.requireNonNull(quotaRate, "quotaRate");
      if (quotaRate.signum() < 0) {
        throw new IllegalArgumentException("the quota rate must be at least 0, not " + quotaRate);
      }
    }

    /** Settings with the default quota rate ({@link QuotaLedger#DEFAULT_RATE}). */
    public Settings(String bindAddress, int grpcPort, Path configPath, ChronicleMapStore.Settings store,
        RequestLimits limits, FailureMode failureMode, boolean noop, Duration drainTimeout, Duration sweepInterval) {
      this(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout, sweepInterval,
          QuotaLedger.DEFAULT_RATE);
    }

    public Settings withQuotaRate(BigDecimal rate) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noop, drainTimeout,
          sweepInterval, rate);
    }

    /** Defaults on an ephemeral loopback port, embedded policy, in-memory store: the starting point for tests. */
    public static Settings loopbackDefaults() {
      return new Settings("127.0.0.1", 0, null, ChronicleMapStore.Settings.defaults(), RequestLimits.defaults(),
          FailureMode.ALLOW, false, Duration.ofSeconds(10), Duration.ofSeconds(60));
    }

    public Settings withConfigPath(Path path) {
      return new Settings(bindAddress, grpcPort, path, store, limits, failureMode, noop, drainTimeout, sweepInterval,
          quotaRate);
    }

    public Settings withStore(ChronicleMapStore.Settings newStore) {
      return new Settings(bindAddress, grpcPort, configPath, newStore, limits, failureMode, noop, drainTimeout,
          sweepInterval, quotaRate);
    }

    public Settings withNoop(boolean noopMode) {
      return new Settings(bindAddress, grpcPort, configPath, store, limits, failureMode, noopMode, drainTimeout,
          sweepInterval, quotaRate);
    }
  }

  private final Settings settings;
  private final Server grpc;
  private final HealthStatusManager health;
  private final CounterStore store;
  private final PolicyHolder policy;
  private final RateLimitEngine engine;
  private final ScheduledExecutorService background;
  private boolean closed;

  private RateLimitServer(Settings settings, Server grpc, HealthStatusManager health, CounterStore store,
      PolicyHolder policy, RateLimitEngine engine, ScheduledExecutorService background) {
    this.settings = settings;
    this.grpc = grpc;
    this.health = health;
    this.store = store;
    this.policy = policy;
    this.engine = engine;
    this.background = background;
  }

  /** Loads the policy, opens the store and starts serving. */
  public static RateLimitServer start(Settings settings, Clock clock, MeterRegistry registry)
      throws IOException, ConfigException {
    HealthStatusManager health = new HealthStatusManager();
    // Decisions on the embedded store take microseconds and never wait on I/O, so they run on the Netty event loop
    // instead of paying a thread hand-off per call. A store that does network I/O must use an executor instead.
    NettyServerBuilder builder = NettyServerBuilder
        .forAddress(new InetSocketAddress(settings.bindAddress(), settings.grpcPort()))
        .directExecutor()
        .addService(health.getHealthService())
        .addService(ProtoReflectionServiceV1.newInstance());
    if (settings.noop()) {
      Server grpc = builder.addService(new NoopRateLimitService()).build().start();
      health.setStatus("", ServingStatus.SERVING);
      log.info("started in NOOP mode (always OK, no policy, no store) on {}:{}", settings.bindAddress(),
          grpc.getPort());
      return new RateLimitServer(settings, grpc, health, null, null, null, null);
    }
    PolicyLoader loader = new PolicyLoader();
    PolicyIndex index = settings.configPath() == null ? loader.loadDefault() : loader.load(settings.configPath());
    PolicyHolder policy = new PolicyHolder(index);
    CounterStore store = ChronicleMapStore.open(settings.store());
    RateLimitEngine engine;
    Server grpc;
    try {
      engine = new RateLimitEngine(policy, store, clock, settings.limits(), settings.failureMode(),
          new ServiceMetrics(registry),
          new QuotaBook(store, new QuotaLedger(settings.quotaRate()), settings.limits().maxKeyBytes()));
      grpc = builder
          .addService(new RateLimitGrpcService(engine))
          .addService(new AdminGrpcService(engine))
          .build()
          .start();
    } catch (IOException | RuntimeException e) {
      store.close();
      throw e;
    }
    health.setStatus("", ServingStatus.SERVING);
    ScheduledExecutorService background = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-sweeper");
      t.setDaemon(true);
      return t;
    });
    long sweepMillis = settings.sweepInterval().toMillis();
    background.scheduleWithFixedDelay(() -> sweep(store, clock), sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
    log.info("started on {}:{} with domains {} from {}; store: {} (max entries {}), failure mode {}, limits {}",
        settings.bindAddress(), grpc.getPort(),
        index.domains().stream().map(d -> d.domain()).sorted().toList(),
        settings.configPath() == null ? "the embedded default policy" : settings.configPath(),
        settings.store().dataFile() == null ? "in memory" : settings.store().dataFile(),
        settings.store().maxEntries(), settings.failureMode(), settings.limits());
    return new RateLimitServer(settings, grpc, health, store, policy, engine, background);
  }

  private static void sweep(CounterStore store, Clock clock) {
    try {
      int removed = store.sweepExpired(clock.millis());
      log.debug("sweeper removed {} idle keys; {} remain", removed, store.size());
    } catch (RuntimeException e) {
      log.warn("sweeper failed: {}", e.toString());
    }
  }

  /** The bound gRPC port. */
  public int grpcPort() {
    return grpc.getPort();
  }

  /** The store, or null in noop mode. */
  public CounterStore store() {
    return store;
  }

  /** The running policy, or null in noop mode. */
  public PolicyHolder policy() {
    return policy;
  }

  /** The decision engine, or null in noop mode. */
  public RateLimitEngine engine() {
    return engine;
  }

  /** Blocks until the gRPC server has terminated. */
  public void awaitTermination() throws InterruptedException {
    grpc.awaitTermination();
  }

  /**
   * Graceful shutdown: health turns NOT_SERVING, new calls are refused, in-flight calls get up to the drain timeout to
   * finish, then the store is closed so a persisted file is clean.
   */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
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
      background.shutdownNow();
    }
    if (store != null) {
      store.close();
    }
    log.info("stopped");
  }
}
