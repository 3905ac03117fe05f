package dev.ratelimit;

import dev.ratelimit.bootstrap.RateLimitServer;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.store.StoreSettings;
import dev.ratelimit.policy.ConfigException;
import dev.ratelimit.policy.Durations;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.grpc.TracingSettings;
import dev.ratelimit.security.AdminSecurity;
import dev.ratelimit.engine.ClientAddressPolicy;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.security.TlsSettings;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.engine.RequestLimits;
import dev.ratelimit.engine.ResponseHeaders;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.redis.RedisSettings;
import dev.ratelimit.store.redis.TimeSource;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Command line entry point: flags (each with an environment variable), start, and shutdown on SIGTERM. Long only
 * because each of its fifty flags is one annotated field with its help text; what the flags mean is decided in
 * {@link ServerSettings} and the parts it configures.
 */
@Command(
    name = "ratelimit-server",
    mixinStandardHelpOptions = true,
    versionProvider = Main.Version.class,
    description = "Envoy external rate-limit server (envoy.service.ratelimit.v3) with sliding windows in Chronicle Map or Redis.")
public final class Main implements Callable<Integer> {

  @Option(names = "--port", defaultValue = "${env:RATELIMIT_PORT:-8081}", description = "gRPC port (env RATELIMIT_PORT; default ${DEFAULT-VALUE}).")
  int port;

  @Option(names = "--bind", defaultValue = "${env:RATELIMIT_BIND:-0.0.0.0}", description = "gRPC bind address (env RATELIMIT_BIND; default ${DEFAULT-VALUE}).")
  String bind;

  @Option(names = "--config", defaultValue = "${env:RATELIMIT_CONFIG}", description = "Policy file or directory of policy files (env RATELIMIT_CONFIG); default: the embedded default policy.")
  Path config;

  @Option(names = "--data-file", defaultValue = "${env:RATELIMIT_DATA_FILE}", description = "Persist counters to this file so restarts keep them (env RATELIMIT_DATA_FILE); default: memory only.")
  Path dataFile;

  @Option(names = "--max-entries", defaultValue = "${env:RATELIMIT_MAX_ENTRIES:-1000000}", description = "Counters the store is sized for (env RATELIMIT_MAX_ENTRIES; default ${DEFAULT-VALUE}).")
  long maxEntries;

  @Option(names = "--average-key-bytes", defaultValue = "48", description = "Expected counter key size for sizing the store (default ${DEFAULT-VALUE}).")
  int averageKeyBytes;

  @Option(names = "--average-value-bytes", defaultValue = "142", description = "Expected state size for sizing the store (default ${DEFAULT-VALUE}: a 60-slot sliding window with 2-byte counters).")
  int averageValueBytes;

  @Option(names = "--max-descriptors", defaultValue = "64", description = "Descriptors allowed per request (default ${DEFAULT-VALUE}).")
  int maxDescriptors;

  @Option(names = "--max-entries-per-descriptor", defaultValue = "16", description = "Entries allowed per descriptor (default ${DEFAULT-VALUE}).")
  int maxEntriesPerDescriptor;

  @Option(names = "--max-key-bytes", defaultValue = "1024", description = "Longest counter key (domain + entries) accepted (default ${DEFAULT-VALUE}).")
  int maxKeyBytes;

  @Option(names = "--failure-mode", defaultValue = "${env:RATELIMIT_FAILURE_MODE:-allow}", description = "Answer when the store cannot decide: allow or deny (default ${DEFAULT-VALUE}).")
  String failureMode;

  @Option(names = "--rejected-requests", defaultValue = "${env:RATELIMIT_REJECTED_REQUESTS:-count_nowhere}", description = "What a rejected request leaves in the counters of its descriptors that were within their limits: count_nowhere (a request rejected by any descriptor counts in no bucket) or count_within_limit (envoyproxy/ratelimit's default); a domain's rejected_requests overrides it (env RATELIMIT_REJECTED_REQUESTS; default ${DEFAULT-VALUE}).")
  String rejectedRequests;

  @Option(names = "--drain-timeout", converter = DurationConverter.class, defaultValue = "10s", description = "How long shutdown waits for in-flight calls (default ${DEFAULT-VALUE}).")
  Duration drainTimeout;

  @Option(names = "--sweep-interval", converter = DurationConverter.class, defaultValue = "60s", description = "How often idle counters are removed (default ${DEFAULT-VALUE}).")
  Duration sweepInterval;

  @Option(names = "--store", defaultValue = "${env:RATELIMIT_STORE:-chronicle}", description = "Counter store: chronicle (embedded, per replica) or redis (shared by replicas) (env RATELIMIT_STORE; default ${DEFAULT-VALUE}).")
  String storeKind;

  @Option(names = "--redis-uri", defaultValue = "${env:RATELIMIT_REDIS_URI:-redis://127.0.0.1:6379}", description = "Redis to share counters in, with --store redis: redis://[:password@]host:port[/db], rediss://... (TLS), redis-sentinel://host:port[,host:port]#master, redis-cluster://host:port[,host:port] (env RATELIMIT_REDIS_URI; default ${DEFAULT-VALUE}).")
  String redisUri;

  @Option(names = "--redis-timeout", converter = DurationConverter.class, defaultValue = "${env:RATELIMIT_REDIS_TIMEOUT:-15ms}", description = "Longest wait for Redis per request before the failure mode answers; keep it below Envoy's rate-limit timeout, 20ms by default (env RATELIMIT_REDIS_TIMEOUT; default ${DEFAULT-VALUE}).")
  Duration redisTimeout;

  @Option(names = "--redis-startup-timeout", converter = DurationConverter.class, defaultValue = "${env:RATELIMIT_REDIS_STARTUP_TIMEOUT:-30s}", description = "How long start-up keeps trying to reach Redis and load the scripts before exiting (env RATELIMIT_REDIS_STARTUP_TIMEOUT; default ${DEFAULT-VALUE}).")
  Duration redisStartupTimeout;

  @Option(names = "--redis-topology-refresh", converter = DurationConverter.class, defaultValue = "${env:RATELIMIT_REDIS_TOPOLOGY_REFRESH:-5s}", description = "How often the Sentinel master or the Cluster topology is checked again, besides failover announcements and failed calls (env RATELIMIT_REDIS_TOPOLOGY_REFRESH; default ${DEFAULT-VALUE}).")
  Duration redisTopologyRefresh;

  @Option(names = "--redis-key-prefix", defaultValue = "${env:RATELIMIT_REDIS_KEY_PREFIX:-rl:}", description = "Prefix of every Redis key (default ${DEFAULT-VALUE}).")
  String redisKeyPrefix;

  @Option(names = "--redis-overlimit-cache", defaultValue = "100000", description = "Over-limit keys answered locally until their reset without asking Redis; 0 disables (default ${DEFAULT-VALUE}).")
  int redisOverLimitCache;

  @Option(names = "--quota-rate", defaultValue = "${env:RATELIMIT_QUOTA_RATE:-0.000115}", description = "Dynamic quota: added requests per US dollar of an organisation's rolling 24 h volume (env RATELIMIT_QUOTA_RATE; default ${DEFAULT-VALUE}: $10k -> 1, $1M -> 115).")
  String quotaRate;

  @Option(names = "--admin-port", defaultValue = "${env:RATELIMIT_ADMIN_PORT:-9090}", description = "Admin HTTP port: /metrics, /healthz, /readyz, /config, POST /reload (env RATELIMIT_ADMIN_PORT; default ${DEFAULT-VALUE}; -1 for none).")
  int adminPort;

  @Option(names = "--admin-grpc-port", defaultValue = "${env:RATELIMIT_ADMIN_GRPC_PORT:-9091}", description = "Admin gRPC port: ratelimit.admin.v1.RateLimitAdmin (SetQuota, RecordVolume, GetQuota, GetCounter) and health; never served on --port (env RATELIMIT_ADMIN_GRPC_PORT; default ${DEFAULT-VALUE}; 0 for an ephemeral port; -1 for none).")
  int adminGrpcPort;

  @Option(names = "--admin-bind", defaultValue = "${env:RATELIMIT_ADMIN_BIND:-127.0.0.1}", description = "Bind address of the admin HTTP and admin gRPC ports; anything but a loopback address needs --admin-token-file or --admin-tls-client-ca (env RATELIMIT_ADMIN_BIND; default ${DEFAULT-VALUE}).")
  String adminBind;

  @Option(names = "--admin-token-file", defaultValue = "${env:RATELIMIT_ADMIN_TOKEN_FILE}", description = "File holding a bearer token required by admin gRPC calls and by GET /config and POST /reload (Authorization: Bearer <token>); re-read when it changes (env RATELIMIT_ADMIN_TOKEN_FILE). /metrics, /healthz and /readyz stay open.")
  Path adminTokenFile;

  @Option(names = "--admin-tls-cert", defaultValue = "${env:RATELIMIT_ADMIN_TLS_CERT}", description = "PEM certificate chain for TLS on both admin ports (env RATELIMIT_ADMIN_TLS_CERT); needs --admin-tls-key. Default: plaintext.")
  Path adminTlsCert;

  @Option(names = "--admin-tls-key", defaultValue = "${env:RATELIMIT_ADMIN_TLS_KEY}", description = "PEM private key for --admin-tls-cert (env RATELIMIT_ADMIN_TLS_KEY).")
  Path adminTlsKey;

  @Option(names = "--admin-tls-client-ca", defaultValue = "${env:RATELIMIT_ADMIN_TLS_CLIENT_CA}", description = "PEM CA bundle: admin gRPC requires client certificates signed by it, admin HTTP requires one for GET /config and POST /reload (mutual TLS; env RATELIMIT_ADMIN_TLS_CLIENT_CA).")
  Path adminTlsClientCa;

  @Option(names = "--watch-config", negatable = true, defaultValue = "true", fallbackValue = "true", description = "Apply policy file changes automatically; --no-watch-config leaves it to POST /reload (default ${DEFAULT-VALUE}).")
  boolean watchConfig;

  @Option(names = "--config-check-interval", converter = DurationConverter.class, defaultValue = "10s", description = "How often the policy files' content is compared, besides file-change events (default ${DEFAULT-VALUE}).")
  Duration configCheckInterval;

  @Option(names = "--detailed-metric-values", defaultValue = "100", description = "Distinct descriptor values a detailed_metric rule gets metric series for; the rest count as _other (default ${DEFAULT-VALUE}).")
  int detailedMetricValues;

  @Option(names = "--max-request-bytes", defaultValue = "${env:RATELIMIT_MAX_REQUEST_BYTES:-65536}", description = "Largest serialized request accepted; larger ones get RESOURCE_EXHAUSTED before parsing (env RATELIMIT_MAX_REQUEST_BYTES; default ${DEFAULT-VALUE}).")
  int maxRequestBytes;

  @Option(names = "--tls-cert", defaultValue = "${env:RATELIMIT_TLS_CERT}", description = "PEM certificate chain for TLS on the gRPC port (env RATELIMIT_TLS_CERT); needs --tls-key. Default: plaintext.")
  Path tlsCert;

  @Option(names = "--tls-key", defaultValue = "${env:RATELIMIT_TLS_KEY}", description = "PEM private key for --tls-cert (env RATELIMIT_TLS_KEY).")
  Path tlsKey;

  @Option(names = "--tls-client-ca", defaultValue = "${env:RATELIMIT_TLS_CLIENT_CA}", description = "PEM CA bundle: require client certificates signed by it (mutual TLS; env RATELIMIT_TLS_CLIENT_CA).")
  Path tlsClientCa;

  @Option(names = "--tls-reload-interval", converter = DurationConverter.class, defaultValue = "1m", description = "How often the TLS files (of the gRPC port and the admin ports) are re-read so rotated certificates apply without a restart (default ${DEFAULT-VALUE}).")
  Duration tlsReloadInterval;

  @Option(names = "--ip-keys", split = ",", defaultValue = "${env:RATELIMIT_IP_KEYS:-remote_address}", description = "Descriptor keys whose values are client IP addresses, comma-separated; 'none' to disable (env RATELIMIT_IP_KEYS; default ${DEFAULT-VALUE}).")
  List<String> ipKeys;

  @Option(names = "--ipv4-prefix", defaultValue = "32", description = "IPv4 clients are keyed by this prefix length (default ${DEFAULT-VALUE}: each address).")
  int ipv4Prefix;

  @Option(names = "--ipv6-prefix", defaultValue = "64", description = "IPv6 clients are keyed by this prefix length, so rotating addresses within one allocation share a limit (default ${DEFAULT-VALUE}; 128: each address).")
  int ipv6Prefix;

  @Option(names = "--api-keys", defaultValue = "${env:RATELIMIT_API_KEYS}", description = "YAML file of API keys (SHA-256 of each key with org, tier and optional id): serve Envoy's ext_authz Authorization/Check on the gRPC port, resolving x-api-key to x-org-id, x-org-tier and x-api-key-id; re-read when it changes (env RATELIMIT_API_KEYS). Default: not served.")
  Path apiKeys;

  @Option(names = "--response-headers", defaultValue = "${env:RATELIMIT_RESPONSE_HEADERS:-x-ratelimit}", description = "Rate-limit response headers: x-ratelimit (x-ratelimit-remaining, -current, -reset), ietf (RateLimit-Policy and RateLimit, draft-ietf-httpapi-ratelimit-headers-11), draft03 (what Envoy's DRAFT_VERSION_03 emits) or none (env RATELIMIT_RESPONSE_HEADERS; default ${DEFAULT-VALUE}).")
  String responseHeaders;

  @Option(names = "--retry-after", negatable = true, defaultValue = "true", fallbackValue = "true", description = "Add Retry-After (seconds until reset, at least 1) to over-limit answers; --no-retry-after leaves it out (default ${DEFAULT-VALUE}).")
  boolean retryAfter;

  @Option(names = "--limit-header", negatable = true, defaultValue = "false", fallbackValue = "true", description = "With --response-headers x-ratelimit, also add x-ratelimit-limit (default ${DEFAULT-VALUE}).")
  boolean limitHeader;

  @Option(names = "--shadow-mode", negatable = true, defaultValue = "${env:RATELIMIT_SHADOW_MODE:-false}", fallbackValue = "true", description = "Decide, count and report every request as usual but answer OK to all (env RATELIMIT_SHADOW_MODE; default ${DEFAULT-VALUE}).")
  boolean shadowMode;

  @Option(names = "--near-limit-ratio", defaultValue = "${env:RATELIMIT_NEAR_LIMIT_RATIO:-0.8}", description = "Share of a limit from which admitted hits count in ratelimit_near_limit (env RATELIMIT_NEAR_LIMIT_RATIO; default ${DEFAULT-VALUE}).")
  double nearLimitRatio;

  @Option(names = "--otlp-endpoint", description = "Export OpenTelemetry spans of ShouldRateLimit and ext_authz Check over OTLP/HTTP (protobuf) to this collector, e.g. http://otel-collector:4318 (spans go to its /v1/traces; a URL with a path is used as it is); the parent is the W3C traceparent Envoy sends. Default: off, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT when set (docs/operations.md).")
  String otlpEndpoint;

  @Option(names = "--trace-sample-ratio", defaultValue = "${env:OTEL_TRACES_SAMPLER_ARG:-1.0}", description = "Share of calls without a sampled or unsampled parent that start a recorded trace; Envoy's sampling decision is followed otherwise (env OTEL_TRACES_SAMPLER_ARG; default ${DEFAULT-VALUE}).")
  double traceSampleRatio;

  @Option(names = "--trace-service-name", defaultValue = "${env:OTEL_SERVICE_NAME:-ratelimit}", description = "The service.name of exported spans (env OTEL_SERVICE_NAME; default ${DEFAULT-VALUE}).")
  String traceServiceName;

  @Option(names = "--noop", description = "Benchmark baseline: same gRPC stack, always OK, no policy, no store.")
  boolean noop;

  /**
   * grpc-java logs a warning with a stack trace for every oversize or undecodable request; a client could flood the
   * log with them. They are answered RESOURCE_EXHAUSTED / INVALID_ARGUMENT and visible on the client side, so only
   * severe transport errors are logged. Held here because java.util.logging keeps loggers weakly.
   */
  private static final java.util.logging.Logger GRPC_STREAM_LOG =
      java.util.logging.Logger.getLogger("io.grpc.netty.shaded.io.grpc.netty.NettyServerStream");

  public static void main(String[] args) {
    GRPC_STREAM_LOG.setLevel(java.util.logging.Level.SEVERE);
    System.exit(new CommandLine(new Main()).execute(args));
  }

  @Override
  public Integer call() throws InterruptedException {
    ServerSettings settings;
    try {
      settings = settings();
    } catch (IllegalArgumentException e) {
      System.err.println("ratelimit-server: " + e.getMessage());
      return 2;
    }
    RateLimitServer server;
    try {
      server = RateLimitServer.start(settings, Clock.systemUTC(), registry());
    } catch (ConfigException e) {
      System.err.println("ratelimit-server: invalid configuration: " + e.getMessage());
      return 3;
    } catch (IOException e) {
      System.err.println("ratelimit-server: cannot start: " + e.getMessage());
      return 4;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "ratelimit-shutdown"));
    server.awaitTermination();
    return 0;
  }

  /**
   * The settings the flags give. The listeners' flags are checked before the store's ({@code --store} and the Redis
   * flags), so an error names the first of them.
   */
  private ServerSettings settings() {
    ServerSettings listeners = ServerSettings.builder()
        .bindAddress(bind)
        .grpcPort(port)
        .noop(noop)
        .configPath(config)
        .watchConfig(watchConfig)
        .configCheckInterval(configCheckInterval)
        .limits(new RequestLimits(maxDescriptors, maxEntriesPerDescriptor, maxKeyBytes))
        .failureMode(parseFailureMode(failureMode))
        .rejectedRequests(rejectedRequests(rejectedRequests))
        .quotaRate(quotaRate(quotaRate))
        .headers(new ResponseHeaders(headerFormat(responseHeaders), retryAfter, limitHeader))
        .shadowMode(shadowMode)
        .nearLimitRatio(nearLimitRatio)
        .detailedMetricValues(detailedMetricValues)
        .apiKeys(apiKeys)
        .security(security())
        .adminBindAddress(adminBind)
        .adminPort(adminPort)
        .adminGrpcPort(adminGrpcPort)
        .adminSecurity(adminSecurity())
        .drainTimeout(drainTimeout)
        .tracing(TracingSettings.resolve(otlpEndpoint, traceServiceName, traceSampleRatio, System.getenv()))
        .build();
    return listeners.toBuilder().store(store()).build();
  }

  /** The Prometheus registry, with the JVM's and the process's meters (memory, GC, threads, CPU, uptime, classes). */
  public static PrometheusMeterRegistry registry() {
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry); // lives as long as the process, never closed
    new JvmThreadMetrics().bindTo(registry);
    new ClassLoaderMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    return registry;
  }

  private static ResponseHeaders.Format headerFormat(String text) {
    ResponseHeaders.Format format = ResponseHeaders.Format.parse(text);
    if (format == null) {
      throw new IllegalArgumentException("--response-headers must be x-ratelimit, ietf, draft03 or none, not '" + text
          + "'");
    }
    return format;
  }

  /**
   * {@code --version}: the jar manifest's {@code Implementation-Version}, or the Maven project version from a filtered
   * resource when running from classes.
   */
  static final class Version implements CommandLine.IVersionProvider {
    static final String RESOURCE = "/dev/ratelimit/version.properties";

    @Override
    public String[] getVersion() {
      return new String[] {"ratelimit-server " + version()};
    }

    static String version() {
      String version = Main.class.getPackage().getImplementationVersion();
      if (version != null && !version.isBlank()) {
        return version;
      }
      Properties properties = new Properties();
      try (InputStream in = Main.class.getResourceAsStream(RESOURCE)) {
        if (in != null) {
          properties.load(in);
        }
      } catch (IOException e) {
        // reported as unknown below
      }
      return properties.getProperty("version", "unknown");
    }
  }

  private SecuritySettings security() {
    TlsSettings tls = tls("--tls", tlsCert, tlsKey, tlsClientCa);
    Set<String> keys = new LinkedHashSet<>();
    for (String key : ipKeys) {
      if (!key.isBlank() && !key.trim().equals("none")) {
        keys.add(key.trim());
      }
    }
    return new SecuritySettings(tls, maxRequestBytes, new ClientAddressPolicy(keys, ipv4Prefix, ipv6Prefix));
  }

  private AdminSecurity adminSecurity() {
    return new AdminSecurity(adminTokenFile, tls("--admin-tls", adminTlsCert, adminTlsKey, adminTlsClientCa));
  }

  /** TLS from the {@code <prefix>-cert}, {@code -key} and {@code -client-ca} flags, or null when none is given. */
  private TlsSettings tls(String prefix, Path cert, Path key, Path clientCa) {
    if (cert == null && key == null) {
      if (clientCa != null) {
        throw new IllegalArgumentException(prefix + "-client-ca needs " + prefix + "-cert and " + prefix
            + "-key (mutual TLS is TLS first)");
      }
      return null;
    }
    if (cert == null || key == null) {
      throw new IllegalArgumentException(prefix + "-cert and " + prefix + "-key must be given together");
    }
    return new TlsSettings(cert, key, clientCa, tlsReloadInterval);
  }

  /** The counter store {@code --store} names, with its flags. */
  private StoreSettings store() {
    switch (storeKind.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "chronicle":
        return new StoreSettings.Embedded(
            new ChronicleMapStore.Settings(maxEntries, averageKeyBytes, averageValueBytes, dataFile), sweepInterval);
      case "redis":
        return new StoreSettings.Redis(RedisSettings.defaults(redisUri)
            .withTimeout(redisTimeout)
            .withKeyPrefix(redisKeyPrefix)
            .withOverLimitCacheSize(redisOverLimitCache)
            .withTimeSource(TimeSource.REDIS)
            .withStartupTimeout(redisStartupTimeout)
            .withTopologyRefresh(redisTopologyRefresh));
      default:
        throw new IllegalArgumentException("--store must be chronicle or redis, not '" + storeKind + "'");
    }
  }

  private static FailureMode parseFailureMode(String text) {
    try {
      return FailureMode.parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--failure-mode must be allow or deny, not '" + text + "'");
    }
  }

  private static RejectedRequests rejectedRequests(String text) {
    RejectedRequests value = RejectedRequests.parse(text);
    if (value == null) {
      throw new IllegalArgumentException("--rejected-requests must be count_nowhere or count_within_limit, not '"
          + text + "'");
    }
    return value;
  }

  private static BigDecimal quotaRate(String text) {
    try {
      BigDecimal rate = new BigDecimal(text.trim());
      if (rate.signum() >= 0) {
        return rate;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new IllegalArgumentException("--quota-rate must be a number of at least 0 such as 0.000115, not '" + text + "'");
  }

  /** Reads a duration flag ({@code 500ms}, {@code 10s}, {@code 1m}); picocli names the flag in its error. */
  static final class DurationConverter implements CommandLine.ITypeConverter<Duration> {
    @Override
    public Duration convert(String text) {
      Duration d = Durations.parse(text);
      if (d == null) {
        throw new CommandLine.TypeConversionException(
            "must be a positive duration such as 500ms, 10s or 1m, not '" + text + "'");
      }
      return d;
    }
  }
}
