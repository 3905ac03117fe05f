package dev.ratelimit.durability;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.common.util.concurrent.ListenableFuture;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StateUpdate;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Closing the server (what SIGTERM does) while calls are in flight: health turns NOT_SERVING and {@code /readyz} 503
 * at once, every call already sent completes with a real decision, and only then is the store closed.
 */
class GracefulShutdownTest {
  private static final int CALLS = 50;

  /** A store whose first decision blocks until the test opens the gate; it notes a close while decisions run. */
  private static final class GatedStore implements CounterStore {
    final CounterStore delegate;
    final CountDownLatch gate = new CountDownLatch(1);
    final AtomicInteger entered = new AtomicInteger();
    final AtomicInteger running = new AtomicInteger();
    final AtomicInteger applied = new AtomicInteger();
    volatile boolean closedWhileDeciding;
    volatile boolean closed;

    GatedStore(CounterStore delegate) {
      this.delegate = delegate;
    }

    @Override
    public Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
      running.incrementAndGet();
      try {
        if (entered.incrementAndGet() == 1 && !gate.await(30, TimeUnit.SECONDS)) {
          throw new AssertionError("the gate never opened");
        }
        Verdict verdict = delegate.apply(key, limiter, nowMillis, hits, limit);
        applied.incrementAndGet();
        return verdict;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      } finally {
        running.decrementAndGet();
      }
    }

    @Override
    public void refund(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
      delegate.refund(key, limiter, nowMillis, hits, limit);
    }

    @Override
    public <R> R update(byte[] key, StateUpdate<R> update, long nowMillis) {
      return delegate.update(key, update, nowMillis);
    }

    @Override
    public long size() {
      return delegate.size();
    }

    @Override
    public void close() {
      closedWhileDeciding |= running.get() > 0;
      closed = true;
      delegate.close();
    }
  }

  private static void await(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "timed out waiting for " + what);
      Thread.sleep(5); // waiting on other threads and sockets, not on a clock
    }
  }

  @Test
  void closingDuringLoadCompletesEveryCallInFlightBeforeTheStoreCloses() throws Exception {
    AtomicReference<GatedStore> gated = new AtomicReference<>();
    ServerSettings settings = ServerSettings.loopback()
        .drainTimeout(Duration.ofSeconds(20))
        .build();
    // The test's channels get their own event loops, so the server's connections land on different loops of its own
    // group: the blocked decision holds up only the load connection, not the health watch.
    NioEventLoopGroup clientLoops = new NioEventLoopGroup(2);
    try (TestServer server = TestServer.start(settings, ManualClock.atRoundTime(), store -> {
      gated.set(new GatedStore(store));
      return gated.get();
    })) {
      GatedStore store = gated.get();
      ManagedChannel watchChannel = channel(server, clientLoops);
      ManagedChannel loadChannel = channel(server, clientLoops);
      BlockingQueue<ServingStatus> health = new LinkedBlockingQueue<>();
      AtomicReference<ClientCallStreamObserver<HealthCheckRequest>> watch = new AtomicReference<>();
      HealthGrpc.newStub(watchChannel).watch(HealthCheckRequest.newBuilder().setService("").build(),
          new ClientResponseObserver<HealthCheckRequest, HealthCheckResponse>() {
            @Override
            public void beforeStart(ClientCallStreamObserver<HealthCheckRequest> call) {
              watch.set(call);
            }

            @Override
            public void onNext(HealthCheckResponse response) {
              health.add(response.getStatus());
            }

            @Override
            public void onError(Throwable t) {}

            @Override
            public void onCompleted() {}
          });
      assertEquals(ServingStatus.SERVING, health.poll(10, TimeUnit.SECONDS));

      RateLimitServiceGrpc.RateLimitServiceFutureStub stub = RateLimitServiceGrpc.newFutureStub(loadChannel);
      RateLimitRequest request = request("api", descriptor("tier", "pro", "org", "acme"));
      List<ListenableFuture<RateLimitResponse>> calls = new ArrayList<>();
      for (int i = 0; i < CALLS; i++) {
        calls.add(stub.withDeadlineAfter(60, TimeUnit.SECONDS).shouldRateLimit(request));
      }
      await(() -> store.entered.get() >= 1, "the first call to reach the store");

      Thread closer = new Thread(() -> server.server().close(), "closer");
      closer.start();
      assertEquals(ServingStatus.NOT_SERVING, health.poll(10, TimeUnit.SECONDS),
          "health turns NOT_SERVING as soon as draining starts");
      HttpResponse<String> ready = Http.get(server.admin("/readyz"));
      assertEquals(503, ready.statusCode());
      assertTrue(ready.body().startsWith("draining"), ready.body());
      assertEquals(200, Http.get(server.admin("/healthz")).statusCode(), "alive while draining");
      watch.get().cancel("seen", null); // a watch is a call too: end it so the drain can finish
      assertTrue(closer.isAlive(), "close waits for the call in the store");
      assertFalse(store.closed);

      store.gate.countDown();
      closer.join(TimeUnit.SECONDS.toMillis(30));
      assertFalse(closer.isAlive(), "close returned once the calls completed");

      for (ListenableFuture<RateLimitResponse> call : calls) {
        RateLimitResponse response = call.get(10, TimeUnit.SECONDS); // throws if any call failed
        assertEquals(Code.OK, response.getOverallCode());
        assertTrue(response.getStatuses(0).hasCurrentLimit(), "decided by the store, not the failure mode");
      }
      assertEquals(CALLS, store.applied.get(), "every call in flight was counted");
      assertTrue(store.closed);
      assertFalse(store.closedWhileDeciding, "the store closed only after the last decision");

      StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
          () -> RateLimitServiceGrpc.newBlockingStub(loadChannel).withDeadlineAfter(5, TimeUnit.SECONDS)
              .shouldRateLimit(request));
      assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode(), "new calls are refused after close");
      watchChannel.shutdownNow();
      loadChannel.shutdownNow();
    } finally {
      clientLoops.shutdownGracefully(0, 1, TimeUnit.SECONDS).await(5, TimeUnit.SECONDS);
    }
  }

  private static ManagedChannel channel(TestServer server, NioEventLoopGroup loops) {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", server.server().grpcPort())
        .eventLoopGroup(loops)
        .channelType(NioSocketChannel.class)
        .usePlaintext()
        .build();
    assertNotNull(channel);
    return channel;
  }
}
