package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import dev.ratelimit.auth.ApiKeys;
import io.envoyproxy.envoy.config.bootstrap.v3.Bootstrap;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;
import picocli.CommandLine;

/**
 * {@code docker-compose.yaml} (no Docker engine here, so checked statically): the services Envoy's
 * clusters name exist and expose those ports, the Envoy config it mounts parses strictly, and the
 * server's flags are ones {@link Main} accepts and point at the mounted files.
 */
@Tag("deploy")
class ComposeFileTest {
  /**
   * Flags of issue 14's server half (ext_authz API-key resolver), developed on another branch at the
   * same time. Accepted here only while Main lacks them; delete an entry once Main has the flag.
   */

  static Map<String, Map<String, Object>> services;

  @BeforeAll
  @SuppressWarnings("unchecked")
  static void load() throws Exception {
    Map<String, Object> compose = new Yaml().load(Files.readString(Repo.file("docker-compose.yaml")));
    services = (Map<String, Map<String, Object>>) compose.get("services");
  }

  @Test
  void servicesAreEnvoyTheServerRedisAndAnUpstream() {
    assertEquals(List.of("envoy", "ratelimit", "redis", "api"), List.copyOf(services.keySet()));
    assertEquals("envoyproxy/envoy:v1.31-latest", services.get("envoy").get("image"));
    assertTrue(((String) services.get("redis").get("image")).startsWith("redis:7"));
    assertEquals(List.of("8080:8080"), services.get("envoy").get("ports"));
    services.forEach((name, service) -> assertTrue(name.equals("envoy") || !service.containsKey("ports"),
        name + " publishes ports on the host; only Envoy should"));
  }

  @Test
  void mountedEnvoyConfigParsesStrictlyAndItsClustersAreComposeServices() throws Exception {
    Map<String, String> mounts = mounts("envoy");
    String config = argAfter(strings(services.get("envoy").get("command")), "-c");
    Path file = Repo.file(hostPath(mounts, config));
    Bootstrap bootstrap = EnvoyJson.bootstrap(file);
    assertEquals(List.of(), EnvoyValidation.violations(bootstrap));
    assertEquals(8080, bootstrap.getStaticResources().getListeners(0).getAddress().getSocketAddress().getPortValue());
    for (var cluster : bootstrap.getStaticResources().getClustersList()) {
      SocketAddress address = cluster.getLoadAssignment().getEndpoints(0).getLbEndpoints(0).getEndpoint()
          .getAddress().getSocketAddress();
      Map<String, Object> target = services.get(address.getAddress());
      assertTrue(target != null, "cluster " + cluster.getName() + " names no compose service: " + address.getAddress());
      assertTrue(strings(target.get("expose")).contains(String.valueOf(address.getPortValue())),
          address.getAddress() + " does not expose " + address.getPortValue());
    }
  }

  @Test
  void serverFlagsAreMainsAndPointAtMountedFiles() throws Exception {
    var cli = new CommandLine(new Main()).getCommandSpec();
    Map<String, String> flags = new LinkedHashMap<>();
    for (String arg : strings(services.get("ratelimit").get("command"))) {
      String[] kv = arg.split("=", 2);
      assertEquals(2, kv.length, "flags are written --name=value: " + arg);
      flags.put(kv[0], kv[1]);
    }
    List<String> unknown = new ArrayList<>();
    for (String flag : flags.keySet()) {
      if (cli.findOption(flag) == null) {
        unknown.add(flag);
      }
    }
    assertEquals(List.of(), unknown, "flags Main does not accept");

    Map<String, String> mounts = mounts("ratelimit");
    assertEquals(Files.readString(Repo.file("envoy-config/ratelimit/api.yaml")),
        Files.readString(Repo.file(hostPath(mounts, flags.get("--config")))));
    Path keys = Repo.file(hostPath(mounts, flags.get("--api-keys")));
    ApiKeys parsed = ApiKeys.parse(keys.toString(), Files.readString(keys));
    assertEquals("demo-pro", parsed.lookup("demo-pro-key").org(), "the demo keys documented for compose resolve");
    assertEquals("free", parsed.lookup("demo-free-key").tier());
    assertEquals("redis", flags.get("--store"));
    URI redis = URI.create(flags.get("--redis-uri"));
    assertTrue(strings(services.get(redis.getHost()).get("expose")).contains(String.valueOf(redis.getPort())));
  }

  /** Container path -> host path (relative to the repository root) of a service's read-only bind mounts. */
  private static Map<String, String> mounts(String service) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String volume : strings(services.get(service).get("volumes"))) {
      String[] parts = volume.split(":");
      assertEquals(3, parts.length, volume);
      assertEquals("ro", parts[2], "bind mounts are read-only: " + volume);
      assertTrue(parts[0].startsWith("./"), volume);
      out.put(parts[1], parts[0].substring(2));
    }
    return out;
  }

  private static String hostPath(Map<String, String> mounts, String containerPath) {
    String host = mounts.get(containerPath);
    assertTrue(host != null, containerPath + " is not a mounted file: " + mounts.keySet());
    return host;
  }

  private static String argAfter(List<String> args, String flag) {
    return args.get(args.indexOf(flag) + 1);
  }

  @SuppressWarnings("unchecked")
  private static List<String> strings(Object list) {
    return ((List<Object>) list).stream().map(String::valueOf).toList();
  }
}
