package dev.ratelimit.load;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.grpc.CallOptions;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import org.HdrHistogram.Histogram;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Drives one run against a RateLimitService over Netty channels with the async call API: open loop (one pacing thread,
 * sends on schedule, latencies from intended start times) or closed loop (N call chains, each sending its next call when
 * the previous one completes). Completions run directly on the gRPC event loops.
 */
public final class LoadRun implements AutoCloseable {
    private static final long CONNECT_TIMEOUT_NANOS = TimeUnit.SECONDS.toNanos(5);

    private final RunSettings settings;
    private final RequestPool pool;
    private final ManagedChannel[] channels;
    private final AtomicInteger nextChannel = new AtomicInteger();
    private final AtomicLong nextRequest = new AtomicLong();
    private final long timeoutNanos;
    /** Open loop: how late (ns) each measured call was handed to gRPC; only the pacing thread writes it. */
    private final Histogram senderLag = new Histogram(Results.MAX_TRACKABLE_NANOS, 3);
    /** Re-issues calls after failures, which gRPC may report on the calling thread (avoids unbounded recursion). */
    private final ExecutorService retryExecutor = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "load-reissue");
        t.setDaemon(true);
        return t;
    });

    /** Opens {@code settings.connections()} channels; call {@link #execute()} once, then {@link #close()}. */
    public LoadRun(RunSettings settings, RequestPool pool) {
        this.settings = settings;
        this.pool = pool;
        this.timeoutNanos = settings.callTimeout().toNanos();
        this.channels = new ManagedChannel[settings.connections()];
        for (int i = 0; i < channels.length; i++) {
            channels[i] = NettyChannelBuilder.forAddress(settings.target()).usePlaintext().directExecutor()
                    // A load generator must count what it sent: no transparent retries (they also cost a lock per call).
                    .disableRetry().build();
        }
    }

    /** Runs warm-up and measurement and returns the measured phase's report. */
    public Report execute() throws InterruptedException {
        awaitConnected();
        long t0 = System.nanoTime();
        long measureStart = t0 + settings.warmup().toNanos();
        long measureEnd = settings.duration().isZero() ? Long.MAX_VALUE : measureStart + settings.duration().toNanos();
        Results warm = new Results();
        Results measured = new Results();
        long notSent = settings.openLoop()
                ? runOpen(t0, measureStart, measureEnd, warm, measured)
                : runClosed(measureStart, measureEnd, warm, measured);
        long last = measured.lastCompletionNanos();
        double seconds = last == Long.MIN_VALUE ? 0 : Math.max(1e-9, (last - measureStart) / 1e9);
        long completed = measured.completedCount();
        return new Report(settings.openLoop() ? "open" : "closed",
                settings.target().getAddress().getHostAddress() + ":" + settings.target().getPort(),
                settings.rate(), settings.openLoop() ? 0 : settings.concurrency(), settings.connections(), seconds,
                measured.sentCount(), notSent, completed, measured.okCount(), measured.overLimitCount(), measured.unknownCount(),
                measured.errorCounts(), measured.sentCount() - completed, seconds == 0 ? 0 : completed / seconds,
                LatencySummary.of(measured.latencySnapshot()), settings.openLoop() ? LatencySummary.of(senderLag) : null, pool.stats());
    }

    private long runOpen(long t0, long measureStart, long measureEnd, Results warm, Results measured) throws InterruptedException {
        Pacer pacer = new Pacer(t0, settings.rate());
        Semaphore permits = new Semaphore(settings.maxInFlight());
        long hardStop = measureEnd == Long.MAX_VALUE ? Long.MAX_VALUE : measureEnd + timeoutNanos;
        long index = 0;
        long measuredSent = 0;
        long notSent = 0;
        while (settings.requests() == 0 || measuredSent < settings.requests()) {
            long intended = pacer.intendedNanos(index);
            if (intended >= measureEnd) {
                break;
            }
            long now = System.nanoTime();
            if (intended > now) {
                LockSupport.parkNanos(intended - now);
                continue;
            }
            if (now > hardStop) {
                // More than one call timeout behind schedule at the end: give up, but say how many were never sent.
                notSent = Math.max(0, pacer.dueCount(measureEnd - 1) - index);
                if (settings.requests() > 0) {
                    notSent = Math.min(notSent, settings.requests() - measuredSent);
                }
                break;
            }
            // Blocks only when maxInFlight calls are outstanding; the wait is charged to the latency (intended start).
            permits.acquire();
            boolean inMeasure = intended >= measureStart;
            if (inMeasure) {
                measuredSent++;
                senderLag.recordValue(Math.max(0, Math.min(System.nanoTime() - intended, Results.MAX_TRACKABLE_NANOS)));
            }
            send(inMeasure ? measured : warm, intended, failed -> permits.release());
            index++;
        }
        // Drain: every call ends by its deadline, so this wait is bounded.
        if (permits.tryAcquire(settings.maxInFlight(), timeoutNanos + TimeUnit.SECONDS.toNanos(2), TimeUnit.NANOSECONDS)) {
            permits.release(settings.maxInFlight());
        }
        return notSent;
    }

    private long runClosed(long measureStart, long measureEnd, Results warm, Results measured) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(settings.concurrency());
        AtomicLong measuredIssued = new AtomicLong();
        for (int i = 0; i < settings.concurrency(); i++) {
            new Chain(measureStart, measureEnd, warm, measured, measuredIssued, done).next();
        }
        if (measureEnd == Long.MAX_VALUE) {
            done.await();
        } else {
            long wait = measureEnd - System.nanoTime() + timeoutNanos + TimeUnit.SECONDS.toNanos(2);
            done.await(Math.max(0, wait), TimeUnit.NANOSECONDS);
        }
        return 0;
    }

    /** One closed-loop call chain: sends, and on completion sends again until the phase ends. */
    private final class Chain {
        private final long measureStart;
        private final long measureEnd;
        private final Results warm;
        private final Results measured;
        private final AtomicLong measuredIssued;
        private final CountDownLatch done;

        Chain(long measureStart, long measureEnd, Results warm, Results measured, AtomicLong measuredIssued, CountDownLatch done) {
            this.measureStart = measureStart;
            this.measureEnd = measureEnd;
            this.warm = warm;
            this.measured = measured;
            this.measuredIssued = measuredIssued;
            this.done = done;
        }

        void next() {
            long now = System.nanoTime();
            if (now >= measureEnd) {
                done.countDown();
                return;
            }
            Results target = warm;
            if (now >= measureStart) {
                if (settings.requests() > 0 && measuredIssued.getAndIncrement() >= settings.requests()) {
                    done.countDown();
                    return;
                }
                target = measured;
            }
            send(target, now, failed -> {
                if (failed) {
                    retryExecutor.execute(this::next);
                } else {
                    next();
                }
            });
        }
    }

    /** Completion hook: {@code failed} tells whether the call ended with an error. */
    private interface Completion {
        void done(boolean failed);
    }

    private void send(Results results, long startNanos, Completion completion) {
        byte[] request = pool.encoded((int) (nextRequest.getAndIncrement() % pool.size()));
        ManagedChannel channel = channels[(nextChannel.getAndIncrement() & Integer.MAX_VALUE) % channels.length];
        results.sent();
        ClientCalls.asyncUnaryCall(
                channel.newCall(PreEncodedMethod.SHOULD_RATE_LIMIT, CallOptions.DEFAULT.withDeadlineAfter(timeoutNanos, TimeUnit.NANOSECONDS)),
                request,
                new StreamObserver<RateLimitResponse>() {
                    private RateLimitResponse response;

                    @Override
                    public void onNext(RateLimitResponse value) {
                        response = value;
                    }

                    @Override
                    public void onError(Throwable t) {
                        // Also after onNext (e.g. the deadline expired before the trailers): the call failed, count it once.
                        results.error(startNanos, t);
                        completion.done(true);
                    }

                    @Override
                    public void onCompleted() {
                        results.response(startNanos, response);
                        completion.done(false);
                    }
                });
    }

    private void awaitConnected() throws InterruptedException {
        long deadline = System.nanoTime() + CONNECT_TIMEOUT_NANOS;
        for (ManagedChannel channel : channels) {
            ConnectivityState state = channel.getState(true);
            while (state != ConnectivityState.READY) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("cannot connect to " + settings.target() + " within 5 s (channel " + state
                            + "); is the server running?");
                }
                Thread.sleep(10);
                state = channel.getState(true);
            }
        }
    }

    /** Shuts the channels down. */
    @Override
    public void close() throws InterruptedException {
        for (ManagedChannel channel : channels) {
            channel.shutdownNow();
        }
        for (ManagedChannel channel : channels) {
            channel.awaitTermination(5, TimeUnit.SECONDS);
        }
        retryExecutor.shutdownNow();
    }
}
