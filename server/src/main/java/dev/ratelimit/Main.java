package dev.ratelimit;

import dev.ratelimit.config.ConfigException;
import dev.ratelimit.config.Durations;
import dev.ratelimit.service.FailureMode;
import dev.ratelimit.service.RequestLimits;
import dev.ratelimit.store.ChronicleMapStore;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.IOException;
import java.math.BigDecimal;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Command line entry point: flags (each with an environment variable), start, and shutdown on SIGTERM. */
@Command(
    name = "ratelimit-server",
    mixinStandardHelpOptions = true,
    description = "Envoy external rate-limit server (envoy.service.ratelimit.v3) with sliding windows in Chronicle Map.")
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

  @Option(names = "--average-value-bytes", defaultValue = "138", description = "Expected state size for sizing the store (default ${DEFAULT-VALUE}: a 60-slot sliding window with 2-byte counters).")
  int averageValueBytes;

  @Option(names = "--max-descriptors", defaultValue = "64", description = "Descriptors allowed per request (default ${DEFAULT-VALUE}).")
  int maxDescriptors;

  @Option(names = "--max-entries-per-descriptor", defaultValue = "16", description = "Entries allowed per descriptor (default ${DEFAULT-VALUE}).")
  int maxEntriesPerDescriptor;

  @Option(names = "--max-key-bytes", defaultValue = "1024", description = "Longest counter key (domain + entries) accepted (default ${DEFAULT-VALUE}).")
  int maxKeyBytes;

  @Option(names = "--failure-mode", defaultValue = "${env:RATELIMIT_FAILURE_MODE:-allow}", description = "Answer when the store cannot decide: allow or deny (default ${DEFAULT-VALUE}).")
  String failureMode;

  @Option(names = "--drain-timeout", defaultValue = "10s", description = "How long shutdown waits for in-flight calls (default ${DEFAULT-VALUE}).")
  String drainTimeout;

  @Option(names = "--sweep-interval", defaultValue = "60s", description = "How often idle counters are removed (default ${DEFAULT-VALUE}).")
  String sweepInterval;

  @Option(names = "--quota-rate", defaultValue = "${env:RATELIMIT_QUOTA_RATE:-0.000115}", description = "Dynamic quota: added requests per US dollar of an organisation's rolling 24 h volume (env RATELIMIT_QUOTA_RATE; default ${DEFAULT-VALUE}: $10k -> 1, $1M -> 115).")
  String quotaRate;

  @Option(names = "--noop", description = "Benchmark baseline: same gRPC stack, always OK, no policy, no store.")
  boolean noop;

  public static void main(String[] args) {
    System.exit(new CommandLine(new Main()).execute(args));
  }

  @Override
  public Integer call() throws InterruptedException {
    RateLimitServer.Settings settings;
    try {
      settings = settings();
    } catch (IllegalArgumentException e) {
      System.err.println("ratelimit-server: " + e.getMessage());
      return 2;
    }
    RateLimitServer server;
    try {
      server = RateLimitServer.start(settings, Clock.systemUTC(), new PrometheusMeterRegistry(PrometheusConfig.DEFAULT));
    } catch (ConfigException e) {
      System.err.println("ratelimit-server: invalid policy: " + e.getMessage());
      return 3;
    } catch (IOException e) {
      System.err.println("ratelimit-server: cannot start: " + e.getMessage());
      return 4;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(server::close, "ratelimit-shutdown"));
    server.awaitTermination();
    return 0;
  }

  private RateLimitServer.Settings settings() {
    return new RateLimitServer.Settings(
        bind,
        port,
        config,
        new ChronicleMapStore.Settings(maxEntries, averageKeyBytes, averageValueBytes, dataFile),
        new RequestLimits(maxDescriptors, maxEntriesPerDescriptor, maxKeyBytes),
        parseFailureMode(failureMode),
        noop,
        duration("--drain-timeout", drainTimeout),
        duration("--sweep-interval", sweepInterval),
        quotaRate(quotaRate));
  }

  private static FailureMode parseFailureMode(String text) {
    try {
      return FailureMode.parse(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--failure-mode must be allow or deny, not '" + text + "'");
    }
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

  private static Duration duration(String flag, String text) {
    Duration d = Durations.parse(text);
    if (d == null) {
      throw new IllegalArgumentException(flag + " must be a positive duration such as 500ms, 10s or 1m, not '" + text + "'");
    }
    return d;
  }
}
