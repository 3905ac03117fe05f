package dev.ratelimit.load;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Test double: a loopback RateLimitService answering every {@code overEvery}-th call OVER_LIMIT and failing every
 * {@code failEvery}-th call with UNAVAILABLE, counting what it answered so tests can check the generator's report.
 */
final class FakeRateLimitServer implements AutoCloseable {
    final AtomicLong received = new AtomicLong();
    final AtomicLong answeredOk = new AtomicLong();
    final AtomicLong answeredOver = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
    final AtomicLong slow = new AtomicLong();
    private final Server server;

    private final java.util.concurrent.ScheduledExecutorService delayer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();

    FakeRateLimitServer(int overEvery, int failEvery) throws IOException {
        this(overEvery, failEvery, 0, 0);
    }

    /** As above, and every {@code slowEvery}-th call is answered only after {@code slowMillis}. */
    FakeRateLimitServer(int overEvery, int failEvery, int slowEvery, long slowMillis) throws IOException {
        server = NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
                .addService(new RateLimitServiceGrpc.RateLimitServiceImplBase() {
                    @Override
                    public void shouldRateLimit(RateLimitRequest request, StreamObserver<RateLimitResponse> out) {
                        long n = received.incrementAndGet();
                        if (!request.getDomain().equals("api") || request.getDescriptorsCount() < 2) {
                            malformed.incrementAndGet();
                        }
                        if (failEvery > 0 && n % failEvery == 0) {
                            failed.incrementAndGet();
                            out.onError(Status.UNAVAILABLE.withDescription("test failure").asRuntimeException());
                            return;
                        }
                        boolean over = overEvery > 0 && n % overEvery == 0;
                        RateLimitResponse response = RateLimitResponse.newBuilder()
                                .setOverallCode(over ? RateLimitResponse.Code.OVER_LIMIT : RateLimitResponse.Code.OK).build();
                        if (slowEvery > 0 && n % slowEvery == 0) {
                            slow.incrementAndGet();
                            delayer.schedule(() -> {
                                try {
                                    out.onNext(response);
                                    out.onCompleted();
                                } catch (RuntimeException cancelled) {
                                    // the client gave up (deadline): nothing to answer
                                }
                            }, slowMillis, TimeUnit.MILLISECONDS);
                            return;
                        }
                        (over ? answeredOver : answeredOk).incrementAndGet();
                        out.onNext(response);
                        out.onCompleted();
                    }
                })
                .build()
                .start();
    }

    InetSocketAddress address() {
        return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getPort());
    }

    @Override
    public void close() throws InterruptedException {
        delayer.shutdownNow();
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
