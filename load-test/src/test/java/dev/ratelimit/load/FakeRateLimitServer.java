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
 * Which call gets which answer depends only on its arrival number, never on timing.
 */
final class FakeRateLimitServer implements AutoCloseable {
    final AtomicLong received = new AtomicLong();
    final AtomicLong answeredOk = new AtomicLong();
    final AtomicLong answeredOver = new AtomicLong();
    final AtomicLong failed = new AtomicLong();
    final AtomicLong malformed = new AtomicLong();
    final AtomicLong silent = new AtomicLong();
    private final Server server;

    FakeRateLimitServer(int overEvery, int failEvery) throws IOException {
        this(overEvery, failEvery, 0);
    }

    /**
     * As above, and every {@code silentEvery}-th call is never answered: it ends only when the client gives up, so it
     * passes any deadline whatever the machine's load (a delayed answer would race the deadline).
     */
    FakeRateLimitServer(int overEvery, int failEvery, int silentEvery) throws IOException {
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
                        if (silentEvery > 0 && n % silentEvery == 0) {
                            silent.incrementAndGet();
                            return; // the call stays open until the client's deadline cancels it
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
        server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
}
