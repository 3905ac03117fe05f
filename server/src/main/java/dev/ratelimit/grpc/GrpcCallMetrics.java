package dev.ratelimit.grpc;

import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Counts and times every gRPC call a listener serves, as {@code grpc_server_calls_seconds{listener, method, code}}
 * (count, sum and max). Labels are the registered method names and the status code names, so their number is bounded.
 */
public final class GrpcCallMetrics implements ServerInterceptor {
  private final MeterRegistry registry;
  private final String listener;
  /** method → timer per status code ordinal, filled in as calls end (no meter lookup on the hot path). */
  private final Map<String, AtomicReferenceArray<Timer>> timers = new ConcurrentHashMap<>();

  /** @param listener the {@code listener} label, e.g. {@code grpc} or {@code admin_grpc} */
  public GrpcCallMetrics(MeterRegistry registry, String listener) {
    this.registry = registry;
    this.listener = listener;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    long start = System.nanoTime();
    String method = call.getMethodDescriptor().getFullMethodName();
    return next.startCall(new SimpleForwardingServerCall<>(call) {
      @Override
      public void close(Status status, Metadata trailers) {
        timer(method, status.getCode()).record(System.nanoTime() - start, TimeUnit.NANOSECONDS);
        super.close(status, trailers);
      }
    }, headers);
  }

  private Timer timer(String method, Status.Code code) {
    AtomicReferenceArray<Timer> byCode = timers.computeIfAbsent(method,
        m -> new AtomicReferenceArray<>(Status.Code.values().length));
    Timer timer = byCode.get(code.ordinal());
    if (timer == null) {
      timer = Timer.builder("grpc_server_calls")
          .description("gRPC calls served, by listener, method and status code, with their duration")
          .tag("listener", listener)
          .tag("method", method)
          .tag("code", code.name())
          .register(registry);
      byCode.set(code.ordinal(), timer);
    }
    return timer;
  }
}
