package dev.ratelimit.bootstrap;

import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.engine.RequestLimits;
import dev.ratelimit.engine.ResponseHeaders;
import dev.ratelimit.grpc.TracingSettings;
import dev.ratelimit.ops.ServiceMetrics;
import dev.ratelimit.policy.RejectedRequests;
import dev.ratelimit.quota.QuotaLedger;
import dev.ratelimit.security.AdminSecurity;
import dev.ratelimit.security.SecuritySettings;
import dev.ratelimit.store.StoreSettings;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * Everything the server is started with, immutable and checked as a whole when built. Made by a {@link Builder}:
 * {@link #builder()} for production defaults, {@link #loopback()} for ephemeral loopback ports (tests),
 * {@link #toBuilder()} to change a few settings of another. Long only because of one builder method per setting.
 *
 * @param bindAddress address of the gRPC port ({@code 0.0.0.0} for all)
 * @param grpcPort gRPC port, 0 for an ephemeral one
 * @param noop answer OK to everything with no policy or store (the benchmark baseline)
 * @param configPath policy file or directory, null for the embedded default policy
 * @param watchConfig apply policy file changes automatically (otherwise only {@code POST /reload} does)
 * @param configCheckInterval how often the policy and API-key files' content is compared, besides file events
 * @param store which counter store, with its settings
 * @param limits bounds on one request
 * @param failureMode answer when the store cannot decide
 * @param rejectedRequests what a rejected request leaves in its other descriptors' counters, for domains that do not
 *     say ({@code rejected_requests})
 * @param quotaRate added requests per US dollar of an organisation's 24 h volume, for {@code dynamic} rules
 * @param headers the response header contract
 * @param shadowMode every answer is OK (decided, counted and reported as usual otherwise)
 * @param nearLimitRatio share of a limit from which admitted hits count as near the limit, in the metrics
 * @param detailedMetricValues distinct descriptor values a {@code detailed_metric} rule gets metric series for
 * @param apiKeys the API keys file of the ext_authz resolver on the gRPC port, or null: not served
 * @param security TLS of the gRPC port, request size bound and client-address keying
 * @param adminBindAddress address of the admin HTTP port and the admin gRPC listener
 * @param adminPort admin HTTP port, 0 for an ephemeral one, -1 for none
 * @param adminGrpcPort admin gRPC listener, 0 for an ephemeral one, -1 for none
 * @param adminSecurity bearer token and TLS of both admin listeners (required beyond loopback)
 * @param drainTimeout how long shutdown waits for in-flight calls
 * @param tracing OpenTelemetry spans of {@code ShouldRateLimit} and ext_authz {@code Check} (off by default)
 */
public record ServerSettings(
    String bindAddress, int grpcPort, boolean noop,
    Path configPath, boolean watchConfig, Duration configCheckInterval,
    StoreSettings store, RequestLimits limits, FailureMode failureMode, RejectedRequests rejectedRequests,
    BigDecimal quotaRate, ResponseHeaders headers, boolean shadowMode, double nearLimitRatio,
    int detailedMetricValues, Path apiKeys, SecuritySettings security,
    String adminBindAddress, int adminPort, int adminGrpcPort, AdminSecurity adminSecurity,
    Duration drainTimeout, TracingSettings tracing) {

  /** Checks the whole; use a {@link Builder} rather than this constructor. */
  public ServerSettings {
    Objects.requireNonNull(bindAddress, "bindAddress");
    Objects.requireNonNull(configCheckInterval, "configCheckInterval");
    Objects.requireNonNull(store, "store");
    Objects.requireNonNull(limits, "limits");
    Objects.requireNonNull(failureMode, "failureMode");
    Objects.requireNonNull(rejectedRequests, "rejectedRequests");
    Objects.requireNonNull(quotaRate, "quotaRate");
    Objects.requireNonNull(headers, "headers");
    Objects.requireNonNull(security, "security");
    Objects.requireNonNull(adminBindAddress, "adminBindAddress");
    Objects.requireNonNull(adminSecurity, "adminSecurity");
    Objects.requireNonNull(drainTimeout, "drainTimeout");
    Objects.requireNonNull(tracing, "tracing");
    if (quotaRate.signum() < 0) {
      throw new IllegalArgumentException("the quota rate must be at least 0, not " + quotaRate);
    }
    if (!(nearLimitRatio >= 0 && nearLimitRatio <= 1)) {
      throw new IllegalArgumentException("--near-limit-ratio must be between 0 and 1, not " + nearLimitRatio);
    }
    if (configCheckInterval.toMillis() < 1) {
      throw new IllegalArgumentException("the config check interval must be at least 1 ms");
    }
    if (detailedMetricValues < 0) {
      throw new IllegalArgumentException("detailed metric values must be at least 0, not " + detailedMetricValues);
    }
    checkPort("the admin port", adminPort);
    checkPort("the admin gRPC port", adminGrpcPort);
    if (adminPort >= 0 || adminGrpcPort >= 0) {
      adminSecurity.requireFor(adminBindAddress);
    }
  }

  private static void checkPort(String what, int port) {
    if (port < -1 || port > 65_535) {
      throw new IllegalArgumentException(what + " must be 0..65535, or -1 for none, not " + port);
    }
  }

  /**
   * Production defaults: gRPC on 0.0.0.0:8081, admin HTTP on 127.0.0.1:9090 and admin gRPC on 127.0.0.1:9091
   * without token or TLS, the embedded policy and an in-memory store, failure mode allow.
   */
  public static Builder builder() {
    return new Builder();
  }

  /** Defaults on ephemeral loopback ports (gRPC, admin HTTP and admin gRPC): the starting point for tests. */
  public static Builder loopback() {
    return new Builder().bindAddress("127.0.0.1").grpcPort(0).adminPort(0).adminGrpcPort(0);
  }

  /** A builder holding these settings. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** Builds {@link ServerSettings} by name; every setting starts at its production default. */
  public static final class Builder {
    private String bindAddress = "0.0.0.0";
    private int grpcPort = 8081;
    private boolean noop;
    private Path configPath;
    private boolean watchConfig = true;
    private Duration configCheckInterval = Duration.ofSeconds(10);
    private StoreSettings store = StoreSettings.Embedded.defaults();
    private RequestLimits limits = RequestLimits.defaults();
    private FailureMode failureMode = FailureMode.ALLOW;
    private RejectedRequests rejectedRequests = RejectedRequests.COUNT_NOWHERE;
    private BigDecimal quotaRate = QuotaLedger.DEFAULT_RATE;
    private ResponseHeaders headers = ResponseHeaders.defaults();
    private boolean shadowMode;
    private double nearLimitRatio = ServiceMetrics.DEFAULT_NEAR_LIMIT_RATIO;
    private int detailedMetricValues = ServiceMetrics.DEFAULT_DETAILED_VALUES;
    private Path apiKeys;
    private SecuritySettings security = SecuritySettings.defaults();
    private String adminBindAddress = "127.0.0.1";
    private int adminPort = 9090;
    private int adminGrpcPort = 9091;
    private AdminSecurity adminSecurity = AdminSecurity.none();
    private Duration drainTimeout = Duration.ofSeconds(10);
    private TracingSettings tracing = TracingSettings.off();

    private Builder() {
    }

    private Builder(ServerSettings s) {
      bindAddress = s.bindAddress;
      grpcPort = s.grpcPort;
      noop = s.noop;
      configPath = s.configPath;
      watchConfig = s.watchConfig;
      configCheckInterval = s.configCheckInterval;
      store = s.store;
      limits = s.limits;
      failureMode = s.failureMode;
      rejectedRequests = s.rejectedRequests;
      quotaRate = s.quotaRate;
      headers = s.headers;
      shadowMode = s.shadowMode;
      nearLimitRatio = s.nearLimitRatio;
      detailedMetricValues = s.detailedMetricValues;
      apiKeys = s.apiKeys;
      security = s.security;
      adminBindAddress = s.adminBindAddress;
      adminPort = s.adminPort;
      adminGrpcPort = s.adminGrpcPort;
      adminSecurity = s.adminSecurity;
      drainTimeout = s.drainTimeout;
      tracing = s.tracing;
    }

    public Builder bindAddress(String value) {
      bindAddress = value;
      return this;
    }

    public Builder grpcPort(int value) {
      grpcPort = value;
      return this;
    }

    public Builder noop(boolean value) {
      noop = value;
      return this;
    }

    public Builder configPath(Path value) {
      configPath = value;
      return this;
    }

    public Builder watchConfig(boolean value) {
      watchConfig = value;
      return this;
    }

    public Builder configCheckInterval(Duration value) {
      configCheckInterval = value;
      return this;
    }

    public Builder store(StoreSettings value) {
      store = value;
      return this;
    }

    public Builder limits(RequestLimits value) {
      limits = value;
      return this;
    }

    public Builder failureMode(FailureMode value) {
      failureMode = value;
      return this;
    }

    public Builder rejectedRequests(RejectedRequests value) {
      rejectedRequests = value;
      return this;
    }

    public Builder quotaRate(BigDecimal value) {
      quotaRate = value;
      return this;
    }

    public Builder headers(ResponseHeaders value) {
      headers = value;
      return this;
    }

    public Builder shadowMode(boolean value) {
      shadowMode = value;
      return this;
    }

    public Builder nearLimitRatio(double value) {
      nearLimitRatio = value;
      return this;
    }

    public Builder detailedMetricValues(int value) {
      detailedMetricValues = value;
      return this;
    }

    public Builder apiKeys(Path value) {
      apiKeys = value;
      return this;
    }

    public Builder security(SecuritySettings value) {
      security = value;
      return this;
    }

    /** Another bind address for both admin listeners; beyond loopback {@link #adminSecurity} must authenticate. */
    public Builder adminBindAddress(String value) {
      adminBindAddress = value;
      return this;
    }

    public Builder adminPort(int value) {
      adminPort = value;
      return this;
    }

    public Builder adminGrpcPort(int value) {
      adminGrpcPort = value;
      return this;
    }

    public Builder adminSecurity(AdminSecurity value) {
      adminSecurity = value;
      return this;
    }

    public Builder drainTimeout(Duration value) {
      drainTimeout = value;
      return this;
    }

    public Builder tracing(TracingSettings value) {
      tracing = value;
      return this;
    }

    /** @throws IllegalArgumentException when the settings do not go together (e.g. an open admin port without auth) */
    public ServerSettings build() {
      return new ServerSettings(bindAddress, grpcPort, noop, configPath, watchConfig, configCheckInterval, store,
          limits, failureMode, rejectedRequests, quotaRate, headers, shadowMode, nearLimitRatio, detailedMetricValues,
          apiKeys, security, adminBindAddress, adminPort, adminGrpcPort, adminSecurity, drainTimeout, tracing);
    }
  }
}
