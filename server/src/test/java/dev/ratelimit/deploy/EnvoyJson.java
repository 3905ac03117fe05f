package dev.ratelimit.deploy;

import com.google.gson.Gson;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.extensions.access_loggers.stream.v3.StdoutAccessLog;
import io.envoyproxy.envoy.extensions.filters.http.ext_authz.v3.ExtAuthz;
import io.envoyproxy.envoy.extensions.filters.http.header_mutation.v3.HeaderMutation;
import io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimit;
import io.envoyproxy.envoy.extensions.filters.http.ratelimit.v3.RateLimitPerRoute;
import io.envoyproxy.envoy.extensions.filters.http.router.v3.Router;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import io.envoyproxy.envoy.extensions.upstreams.http.v3.HttpProtocolOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Reads Envoy configuration written in YAML into Envoy's own protobuf types, the way Envoy does:
 * YAML to JSON, then the proto3 JSON mapping with unknown fields rejected, so a misspelt field or
 * a wrong enum value is an error instead of being silently dropped.
 */
final class EnvoyJson {
  /** Every type that our Envoy and Istio files put inside an {@code Any} ({@code "@type"}). */
  static final JsonFormat.TypeRegistry TYPES =
      JsonFormat.TypeRegistry.newBuilder()
          .add(HttpConnectionManager.getDescriptor())
          .add(RateLimit.getDescriptor())
          .add(RateLimitPerRoute.getDescriptor())
          .add(Router.getDescriptor())
          .add(ExtAuthz.getDescriptor())
          .add(HeaderMutation.getDescriptor())
          .add(StdoutAccessLog.getDescriptor())
          .add(HttpProtocolOptions.getDescriptor())
          .add(Cluster.getDescriptor())
          .add(OpenTelemetryConfig.getDescriptor())
          .build();

  private static final JsonFormat.Parser STRICT = JsonFormat.parser().usingTypeRegistry(TYPES);
  private static final Gson GSON = new Gson();

  private EnvoyJson() {}

  /** Parses a YAML file holding an Envoy bootstrap. */
  static Bootstrap bootstrap(Path yamlFile) throws IOException {
    return parse(loadYaml(Files.readString(yamlFile)), Bootstrap.newBuilder());
  }

  /** Parses a YAML document (already loaded, e.g. an EnvoyFilter patch value) into {@code builder}'s type. */
  @SuppressWarnings("unchecked")
  static <T extends Message> T parse(Object yamlTree, Message.Builder builder)
      throws InvalidProtocolBufferException {
    STRICT.merge(GSON.toJson(yamlTree), builder);
    return (T) builder.build();
  }

  /** Loads one YAML document into maps, lists and scalars (anchors and aliases resolved). */
  static Object loadYaml(String text) {
    return new Yaml(new LoaderOptions()).load(text);
  }
}
