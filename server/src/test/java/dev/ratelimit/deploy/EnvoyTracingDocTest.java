package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.envoyproxy.envoy.config.cluster.v3.Cluster;
import io.envoyproxy.envoy.config.trace.v3.OpenTelemetryConfig;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The Envoy tracing configuration that docs/envoy-istio.md tells users to add is valid Envoy configuration: the
 * {@code tracing} block parses strictly into the HTTP connection manager with the OpenTelemetry tracer (the one that
 * sends W3C {@code traceparent} to the server), and the collector cluster is an HTTP/2 cluster.
 */
@Tag("deploy")
class EnvoyTracingDocTest {
  @Test
  void theTracingBlocksParseIntoEnvoysTypes() throws Exception {
    List<String> blocks = yamlBlocks("## Tracing");
    assertEquals(2, blocks.size(), "the tracing block and the collector cluster");

    HttpConnectionManager hcm = EnvoyJson.parse(EnvoyJson.loadYaml(blocks.get(0)), HttpConnectionManager.newBuilder());
    assertEquals(List.of(), EnvoyValidation.violations(hcm.getTracing()));
    assertEquals("envoy.tracers.opentelemetry", hcm.getTracing().getProvider().getName());
    OpenTelemetryConfig otel = hcm.getTracing().getProvider().getTypedConfig().unpack(OpenTelemetryConfig.class);

    Object clusters = EnvoyJson.loadYaml(blocks.get(1));
    assertTrue(clusters instanceof List<?> list && list.size() == 1, "one cluster, as a list item");
    Cluster cluster = EnvoyJson.parse(((List<?>) clusters).get(0), Cluster.newBuilder());
    assertEquals(List.of(), EnvoyValidation.violations(cluster));
    assertEquals(otel.getGrpcService().getEnvoyGrpc().getClusterName(), cluster.getName(),
        "the tracer exports to the documented cluster");
    assertTrue(cluster.getTypedExtensionProtocolOptionsMap()
        .containsKey("envoy.extensions.upstreams.http.v3.HttpProtocolOptions"), "OTLP/gRPC needs HTTP/2");
  }

  /** The {@code yaml} code blocks of the section starting with {@code heading}. */
  private static List<String> yamlBlocks(String heading) throws Exception {
    List<String> lines = Files.readAllLines(Repo.file("docs/envoy-istio.md"));
    int start = lines.indexOf(heading);
    assertTrue(start >= 0, "docs/envoy-istio.md has no section " + heading);
    List<String> blocks = new ArrayList<>();
    StringBuilder block = null;
    for (String line : lines.subList(start + 1, lines.size())) {
      if (line.startsWith("## ")) {
        break;
      }
      if (block == null && line.equals("```yaml")) {
        block = new StringBuilder();
      } else if (block != null && line.equals("```")) {
        blocks.add(block.toString());
        block = null;
      } else if (block != null) {
        block.append(line).append('\n');
      }
    }
    return blocks;
  }
}
