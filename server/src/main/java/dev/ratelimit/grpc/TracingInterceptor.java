package dev.ratelimit.grpc;

import dev.ratelimit.engine.RateLimitEngine;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import java.util.EnumSet;
import java.util.Set;

/**
 * One server span per call of the services it wraps ({@code ShouldRateLimit}, ext_authz {@code Check}), a child of
 * the W3C trace context ({@code traceparent}, {@code tracestate}) Envoy sends in the call's metadata. The span is
 * current while the service runs, so the engine can note store failures on it. Attributes: the RPC ones of the
 * OpenTelemetry conventions, and for {@code ShouldRateLimit} {@value #DOMAIN}, {@value #DESCRIPTORS},
 * {@value #OVERALL_CODE} and {@code ratelimit.store_failures}; for {@code Check} {@value #AUTH_RESULT}. Descriptor
 * values, headers and keys are client data and never recorded. Installed only when tracing is on: off, no span exists.
 */
public final class TracingInterceptor implements ServerInterceptor {
  static final String DOMAIN = "ratelimit.domain";
  static final String DESCRIPTORS = "ratelimit.descriptor_count";
  static final String OVERALL_CODE = "ratelimit.overall_code";
  static final String AUTH_RESULT = "ratelimit.auth.result";

  private static final AttributeKey<String> RPC_SYSTEM = AttributeKey.stringKey("rpc.system");
  private static final AttributeKey<String> RPC_SERVICE = AttributeKey.stringKey("rpc.service");
  private static final AttributeKey<String> RPC_METHOD = AttributeKey.stringKey("rpc.method");
  private static final AttributeKey<Long> RPC_STATUS = AttributeKey.longKey("rpc.grpc.status_code");
  private static final AttributeKey<String> DOMAIN_KEY = AttributeKey.stringKey(DOMAIN);
  private static final AttributeKey<Long> DESCRIPTORS_KEY = AttributeKey.longKey(DESCRIPTORS);
  private static final AttributeKey<String> OVERALL_CODE_KEY = AttributeKey.stringKey(OVERALL_CODE);
  private static final AttributeKey<String> AUTH_RESULT_KEY = AttributeKey.stringKey(AUTH_RESULT);
  /** Server span statuses that are errors, as the RPC conventions list them; the others are answers. */
  private static final Set<Status.Code> SERVER_ERRORS = EnumSet.of(Status.Code.UNKNOWN, Status.Code.DEADLINE_EXCEEDED,
      Status.Code.UNIMPLEMENTED, Status.Code.INTERNAL, Status.Code.UNAVAILABLE, Status.Code.DATA_LOSS);

  private static final Metadata.Key<String> TRACEPARENT =
      Metadata.Key.of("traceparent", Metadata.ASCII_STRING_MARSHALLER);
  private static final Metadata.Key<String> TRACESTATE =
      Metadata.Key.of("tracestate", Metadata.ASCII_STRING_MARSHALLER);
  /** Reads the trace context from gRPC metadata (HTTP/2 headers, lower-case names). */
  private static final TextMapGetter<Metadata> METADATA = new TextMapGetter<>() {
    @Override
    public Iterable<String> keys(Metadata carrier) {
      return carrier.keys();
    }

    @Override
    public String get(Metadata carrier, String key) {
      if (carrier == null) {
        return null;
      }
      return carrier.get(switch (key) {
        case "traceparent" -> TRACEPARENT;
        case "tracestate" -> TRACESTATE;
        default -> Metadata.Key.of(key, Metadata.ASCII_STRING_MARSHALLER);
      });
    }
  };

  private final Tracer tracer;

  public TracingInterceptor(Tracer tracer) {
    this.tracer = tracer;
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
      ServerCallHandler<Q, R> next) {
    MethodDescriptor<Q, R> method = call.getMethodDescriptor();
    Context parent = W3CTraceContextPropagator.getInstance().extract(Context.root(), headers, METADATA);
    Span span = tracer.spanBuilder(method.getFullMethodName())
        .setParent(parent)
        .setSpanKind(SpanKind.SERVER)
        .setAttribute(RPC_SYSTEM, "grpc")
        .setAttribute(RPC_SERVICE, method.getServiceName())
        .setAttribute(RPC_METHOD, method.getBareMethodName())
        .startSpan();
    Context context = parent.with(span);
    TracedCall<Q, R> traced = new TracedCall<>(call, span);
    ServerCall.Listener<Q> listener;
    try (Scope ignored = context.makeCurrent()) {
      listener = next.startCall(traced, headers);
    } catch (RuntimeException e) {
      traced.end(Status.fromThrowable(e));
      throw e;
    }
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onMessage(Q message) {
        if (message instanceof RateLimitRequest request) {
          span.setAttribute(DOMAIN_KEY, request.getDomain());
          span.setAttribute(DESCRIPTORS_KEY, request.getDescriptorsCount());
          span.setAttribute(RateLimitEngine.STORE_FAILURES, 0L);
        }
        try (Scope ignored = context.makeCurrent()) {
          super.onMessage(message);
        }
      }

      @Override
      public void onHalfClose() {
        try (Scope ignored = context.makeCurrent()) {
          super.onHalfClose();
        }
      }

      @Override
      public void onCancel() {
        try (Scope ignored = context.makeCurrent()) {
          super.onCancel();
        } finally {
          traced.end(Status.CANCELLED);
        }
      }

      @Override
      public void onComplete() {
        try (Scope ignored = context.makeCurrent()) {
          super.onComplete();
        }
      }

      @Override
      public void onReady() {
        try (Scope ignored = context.makeCurrent()) {
          super.onReady();
        }
      }
    };
  }

  /** Notes the answer on the span and ends it when the call closes (or is cancelled). */
  private static final class TracedCall<Q, R> extends SimpleForwardingServerCall<Q, R> {
    private final Span span;
    private boolean ended;

    TracedCall(ServerCall<Q, R> call, Span span) {
      super(call);
      this.span = span;
    }

    @Override
    public void sendMessage(R message) {
      if (message instanceof RateLimitResponse response) {
        span.setAttribute(OVERALL_CODE_KEY, response.getOverallCode().name());
      } else if (message instanceof CheckResponse response) {
        span.setAttribute(AUTH_RESULT_KEY, authResult(response));
      }
      super.sendMessage(message);
    }

    @Override
    public void close(Status status, Metadata trailers) {
      end(status);
      super.close(status, trailers);
    }

    synchronized void end(Status status) {
      if (ended) {
        return;
      }
      ended = true;
      span.setAttribute(RPC_STATUS, status.getCode().value());
      if (SERVER_ERRORS.contains(status.getCode())) {
        span.setStatus(StatusCode.ERROR, status.getCode() + (status.getDescription() == null ? ""
            : ": " + status.getDescription()));
      }
      span.end();
    }
  }

  /**
   * The API-key resolver's result, read from its answer (dev.ratelimit.auth.ApiKeyAuthService): denied is an unknown
   * key, organisation headers set a valid one, otherwise the request is keyless. The same labels as the
   * {@code ratelimit_auth_checks} metric.
   */
  static String authResult(CheckResponse response) {
    if (response.hasDeniedResponse()) {
      return "unknown";
    }
    return response.getOkResponse().getHeadersCount() > 0 ? "valid" : "keyless";
  }
}
