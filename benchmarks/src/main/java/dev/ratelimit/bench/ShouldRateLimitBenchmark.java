package dev.ratelimit.bench;

import dev.ratelimit.grpc.NoopRateLimitService;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.grpc.RateLimitGrpcService;
import dev.ratelimit.store.ChronicleMapStore;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * One full {@code ShouldRateLimit} of a realistic request (2-3 descriptors: plan or execute/submit bucket, firewall
 * per IP, firewall per API key) against the default policy and a Chronicle Map store: called on the engine directly,
 * and through in-process gRPC (no network, no serialization) next to the {@code --noop} service as baseline.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ShouldRateLimitBenchmark {
    private static final int POOL = 1 << 16;

    private ChronicleMapStore store;
    private RateLimitEngine engine;
    private RateLimitRequest[] requests;
    private int next;
    private Server server;
    private Server noopServer;
    private ManagedChannel channel;
    private ManagedChannel noopChannel;
    private RateLimitServiceGrpc.RateLimitServiceBlockingStub stub;
    private RateLimitServiceGrpc.RateLimitServiceBlockingStub noopStub;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        store = Fixtures.defaultStore();
        engine = Fixtures.engine(Fixtures.defaultPolicy(), store);
        // 100k orgs and a 64k-request pool: keys are revisited often enough to stay hot but spread over ~150k counters.
        requests = Fixtures.requests(POOL, 100_000, POOL);
        String name = "bench-" + System.nanoTime();
        server = InProcessServerBuilder.forName(name).directExecutor().addService(new RateLimitGrpcService(engine)).build().start();
        channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        stub = RateLimitServiceGrpc.newBlockingStub(channel);
        noopServer = InProcessServerBuilder.forName(name + "-noop").directExecutor().addService(new NoopRateLimitService()).build().start();
        noopChannel = InProcessChannelBuilder.forName(name + "-noop").directExecutor().build();
        noopStub = RateLimitServiceGrpc.newBlockingStub(noopChannel);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws InterruptedException {
        channel.shutdownNow();
        noopChannel.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        noopServer.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        System.out.printf("%n[store holds %d keys]%n", store.size());
        store.close();
    }

    private RateLimitRequest nextRequest() {
        RateLimitRequest r = requests[next];
        next = (next + 1) & (POOL - 1);
        return r;
    }

    /** The engine alone: matching, keys, store decisions, metrics, response building. */
    @Benchmark
    @BenchmarkMode({Mode.AverageTime, Mode.SampleTime})
    public RateLimitResponse engineDirect() throws Exception {
        return engine.shouldRateLimit(nextRequest());
    }

    /** The real gRPC service over an in-process transport. */
    @Benchmark
    public RateLimitResponse grpcInProcess() {
        return stub.shouldRateLimit(nextRequest());
    }

    /** The {@code --noop} service over the same in-process transport: the cost of the gRPC machinery alone. */
    @Benchmark
    public RateLimitResponse grpcInProcessNoop() {
        return noopStub.shouldRateLimit(nextRequest());
    }
}
