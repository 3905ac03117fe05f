package dev.ratelimit.grpc;

import io.grpc.ServerInterceptor;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.common.AttributesBuilder;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporterBuilder;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenTelemetry SDK of a server with tracing on: spans of the {@link TracingInterceptor} are sampled (parent-based:
 * Envoy's sampling decision wins, {@link TracingSettings#sampleRatio} decides for calls without a trace context),
 * batched and posted to the OTLP/HTTP endpoint through the JDK's HttpClient. Not registered as the global
 * OpenTelemetry instance. Closing flushes the spans still queued.
 */
public final class Tracing implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Tracing.class);
  /** The name of the tracer (the OpenTelemetry instrumentation scope). */
  public static final String SCOPE = "dev.ratelimit";

  private final TracingSettings settings;
  private final SdkTracerProvider provider;
  private final TracingInterceptor interceptor;

  private Tracing(TracingSettings settings, SdkTracerProvider provider) {
    this.settings = settings;
    this.provider = provider;
    this.interceptor = new TracingInterceptor(provider.get(SCOPE));
  }

  /** The SDK and its exporter for {@code settings}, or null when tracing is off (nothing is created). */
  public static Tracing open(TracingSettings settings) {
    if (!settings.enabled()) {
      return null;
    }
    OtlpHttpSpanExporterBuilder exporter = OtlpHttpSpanExporter.builder().setEndpoint(settings.endpoint().toString());
    settings.headers().forEach(exporter::addHeader);
    AttributesBuilder resource = Attributes.builder();
    settings.resourceAttributes().forEach(resource::put);
    resource.put(AttributeKey.stringKey("service.name"), settings.serviceName());
    SdkTracerProvider provider = SdkTracerProvider.builder()
        .setResource(Resource.getDefault().merge(Resource.create(resource.build())))
        .setSampler(Sampler.parentBased(Sampler.traceIdRatioBased(settings.sampleRatio())))
        .addSpanProcessor(BatchSpanProcessor.builder(exporter.build()).build())
        .build();
    return new Tracing(settings, provider);
  }

  /** Wraps the traced services: one server span per call. */
  public ServerInterceptor interceptor() {
    return interceptor;
  }

  /** e.g. "spans to http://collector:4318/v1/traces as ratelimit, sampling 1.0 of traces started here". */
  public String describe() {
    return "spans to " + settings.endpoint() + " as " + settings.serviceName() + ", sampling " + settings.sampleRatio()
        + " of traces started here (Envoy's sampled flag decides for its own)";
  }

  /** Exports the queued spans (waiting up to 10 s) and stops the exporter. */
  @Override
  public void close() {
    if (!provider.shutdown().join(10, TimeUnit.SECONDS).isSuccess()) {
      log.warn("tracing: the last spans could not be exported to {}", settings.endpoint());
    }
  }
}
