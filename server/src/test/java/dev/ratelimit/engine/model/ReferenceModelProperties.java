package dev.ratelimit.engine.model;

import dev.ratelimit.store.StoreSettings;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.policy.PolicyReloader;
import dev.ratelimit.engine.FailureMode;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The engine against the {@link ReferenceModel} on random action sequences (requests of 1–4 descriptors with odd and
 * long values, hits and limit overrides; clock moves; reloads of every limit and of {@code rejected_requests};
 * sweeps): in-process on a real Chronicle Map store for many tries, and through a real gRPC server (policy reloaded
 * from its file, the server's own sweeper) for fewer. Each try uses a domain of its own, so tries share the store
 * without sharing counters. A failure reports the shrunk sequence and the steps up to the mismatch.
 */
class ReferenceModelProperties {
  private static final AtomicInteger DOMAINS = new AtomicInteger();
  private static final long ROUND_HOUR = ManualClock.atRoundTime().millis();

  private static ChronicleMapStore store;
  private static Path dir;
  private static ManualClock serverClock;
  private static TestServer server;

  @BeforeContainer
  static void open() throws Exception {
    store = ChronicleMapStore.open(new ChronicleMapStore.Settings(200_000, 64, 120, null));
    dir = Files.createTempDirectory("reference-model");
    Path config = dir.resolve("model.yaml");
    Files.writeString(config, ModelPolicy.initial(false).yaml("start"));
    serverClock = ManualClock.atRoundTime();
    ServerSettings settings = ServerSettings.loopback()
        .configPath(config)
        .watchConfig(false)
        .store(StoreSettings.embedded(new ChronicleMapStore.Settings(200_000, 64, 120, null)))
        .failureMode(FailureMode.DENY)
        .build();
    server = TestServer.start(settings, serverClock);
  }

  @AfterContainer
  static void close() throws Exception {
    if (server != null) {
      server.close();
    }
    if (store != null) {
      store.close();
    }
    if (dir != null) {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  @Provide
  Arbitrary<List<ModelAction>> actions() {
    return ModelArbitraries.actions(40);
  }

  @Property(tries = 200)
  void embeddedEngineAnswersAsTheModel(@ForAll boolean countWithinLimit,
      @ForAll @LongRange(min = 0, max = 59_999) long startOffsetMillis, @ForAll("actions") List<ModelAction> actions)
      throws Exception {
    ManualClock clock = new ManualClock(ROUND_HOUR + startOffsetMillis);
    ModelRun.run(new EngineTarget(store, clock, true), "model-" + DOMAINS.incrementAndGet(),
        ModelPolicy.initial(countWithinLimit), actions);
  }

  @Property(tries = 40)
  void grpcServerAnswersAsTheModel(@ForAll boolean countWithinLimit,
      @ForAll @LongRange(min = 0, max = 59_999) long startOffsetMillis, @ForAll("actions") List<ModelAction> actions)
      throws Exception {
    serverClock.advanceMillis(3_600_000 + startOffsetMillis); // forward only: the server's clock is shared by tries
    ModelRun.run(new ServerTarget(), "model-" + DOMAINS.incrementAndGet(), ModelPolicy.initial(countWithinLimit),
        actions);
  }

  /** The real server over gRPC; a reload rewrites its policy file and reloads it as {@code POST /reload} does. */
  private static final class ServerTarget implements ModelTarget {
    @Override
    public RateLimitResponse decide(RateLimitRequest request) {
      return server.call(request);
    }

    @Override
    public void reload(String domain, ModelPolicy policy) throws Exception {
      Files.writeString(dir.resolve("model.yaml"), policy.yaml(domain));
      PolicyReloader.Result result = server.server().reloader().reload("reference model");
      if (result.status() == PolicyReloader.Status.REJECTED) {
        throw new AssertionError("the policy was refused: " + result.error());
      }
    }

    @Override
    public void sweep() {
      server.server().sweepNow();
    }

    @Override
    public ManualClock clock() {
      return serverClock;
    }

    @Override
    public boolean exactStatuses() {
      return true;
    }
  }
}
