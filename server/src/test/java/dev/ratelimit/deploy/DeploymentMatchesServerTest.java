package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.net.InetAddress;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** Both overlays configure the server through settings {@link Main} really reads, within their memory limits. */
@Tag("deploy")
class DeploymentMatchesServerTest {
  /** 1,000,000 counters of 48 + 142 bytes take 237 MiB, x1.31 of the raw size (docs/operations.md, MemoryFigureTest). */
  private static final double STORE_OVERHEAD = 1.4;
  private static final long JVM_OTHER_BYTES = 200L << 20;

  private final CommandSpec cli = new CommandLine(new Main()).getCommandSpec();

  @ParameterizedTest
  @ValueSource(strings = {KubernetesManifestsTest.EMBEDDED, KubernetesManifestsTest.REDIS})
  void everyServerVariableTheWorkloadSetsIsReadByAFlag(String overlay) {
    Container container = KubernetesManifestsTest.Workload.of(overlay).container();
    // The raw annotation text, e.g. "${env:RATELIMIT_PORT:-8081}" (the spec only has interpolated values).
    List<String> read = Arrays.stream(Main.class.getDeclaredFields())
        .map(f -> f.getAnnotation(CommandLine.Option.class))
        .filter(o -> o != null && o.defaultValue().startsWith("${env:"))
        .map(o -> o.defaultValue())
        .map(d -> d.substring(6).split("[:}]")[0])
        .toList();
    List<String> set = container.getEnv().stream().map(e -> e.getName())
        .filter(n -> n.startsWith("RATELIMIT_")).toList();
    assertTrue(set.size() >= 4, "port, config, data file and store size are set: " + set);
    assertTrue(read.containsAll(set), "Main reads " + read + " but " + overlay + " sets " + set);
    assertTrue(container.getArgs() == null || container.getArgs().isEmpty(), "settings are env variables, checked here");
  }

  @ParameterizedTest
  @ValueSource(strings = {KubernetesManifestsTest.EMBEDDED, KubernetesManifestsTest.REDIS})
  void adminPortsBeyondLoopbackReadTheirTokenFromAMountedSecretAndStayOutOfEveryService(String overlay)
      throws Exception {
    KubernetesManifestsTest.Workload workload = KubernetesManifestsTest.Workload.of(overlay);
    Container container = workload.container();
    String bind = container.getEnv().stream().filter(e -> e.getName().equals("RATELIMIT_ADMIN_BIND"))
        .map(EnvVar::getValue).findFirst().orElse(cli.findOption("--admin-bind").defaultValue());
    assertFalse(InetAddress.getByName(bind).isLoopbackAddress(), "the pod binds admin for Prometheus: " + bind);
    // The server refuses a non-loopback admin bind without a token or mutual TLS; the Deployment gives a token.
    Path tokenFile = Path.of(KubernetesManifestsTest.env(container, "RATELIMIT_ADMIN_TOKEN_FILE"));
    VolumeMount mount = container.getVolumeMounts().stream()
        .filter(m -> tokenFile.getParent().equals(Path.of(m.getMountPath()))).findFirst()
        .orElseThrow(() -> new AssertionError("no volume is mounted at " + tokenFile.getParent()));
    assertEquals(Boolean.TRUE, mount.getReadOnly());
    Volume volume = workload.pod().getVolumes().stream()
        .filter(v -> v.getName().equals(mount.getName())).findFirst().orElseThrow();
    assertNotNull(volume.getSecret(), "the token comes from a Secret, not a ConfigMap or the image");
    assertFalse(Boolean.TRUE.equals(volume.getSecret().getOptional()),
        "without the Secret the pod must wait, not start without a token");
    assertTrue(volume.getSecret().getItems() == null || volume.getSecret().getItems().isEmpty(),
        "the whole Secret is mounted (a subPath or item list would not see rotations)");

    List<Integer> adminPorts = List.of(
        Integer.parseInt(cli.findOption("--admin-port").defaultValue()),
        Integer.parseInt(cli.findOption("--admin-grpc-port").defaultValue()));
    List<String> adminPortNames = container.getPorts().stream()
        .filter(p -> adminPorts.contains(p.getContainerPort())).map(p -> p.getName()).toList();
    assertEquals(List.of("admin", "admin-grpc"), adminPortNames);
    for (Service service : KubeYaml.all(workload.manifests(), Service.class)) {
      for (ServicePort port : service.getSpec().getPorts()) {
        assertFalse(adminPorts.contains(port.getPort()), "a Service exposes an admin port: " + port);
        assertFalse(adminPortNames.contains(port.getTargetPort().getStrVal()), "a Service targets an admin port");
        Integer target = port.getTargetPort().getIntVal();
        assertFalse(target != null && adminPorts.contains(target), "a Service targets an admin port");
      }
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {KubernetesManifestsTest.EMBEDDED, KubernetesManifestsTest.REDIS})
  void memoryLimitCoversHeapDirectBuffersAndTheOffHeapStore(String overlay) {
    Container container = KubernetesManifestsTest.Workload.of(overlay).container();
    boolean embedded = container.getEnv().stream()
        .noneMatch(e -> e.getName().equals("RATELIMIT_STORE") && e.getValue().equals("redis"));
    String jvm = KubernetesManifestsTest.env(container, "JAVA_TOOL_OPTIONS");
    long heap = bytes(jvm, "-Xmx");
    long direct = bytes(jvm, "-XX:MaxDirectMemorySize=");
    long entries = Long.parseLong(KubernetesManifestsTest.env(container, "RATELIMIT_MAX_ENTRIES"));
    long entryBytes = Long.parseLong(cli.findOption("--average-key-bytes").defaultValue())
        + Long.parseLong(cli.findOption("--average-value-bytes").defaultValue());
    long store = embedded ? (long) (entries * entryBytes * STORE_OVERHEAD) : 0; // Redis: no local store
    long needed = heap + direct + store + JVM_OTHER_BYTES;

    Quantity limit = container.getResources().getLimits().get("memory");
    long limitBytes = Quantity.getAmountInBytes(limit).longValue();
    assertTrue(needed <= limitBytes, overlay + " needs " + (needed >> 20) + " MiB, limit " + limit);
    assertEquals(limit, container.getResources().getRequests().get("memory"), "request = limit for memory");
    assertFalse(container.getResources().getLimits().containsKey("cpu"),
        "no CPU limit: throttling would add latency to every request");
  }

  private static long bytes(String options, String flag) {
    Matcher m = Pattern.compile(Pattern.quote(flag) + "(\\d+)([kmg])").matcher(options);
    assertTrue(m.find(), flag + " missing from " + options);
    long n = Long.parseLong(m.group(1));
    return switch (m.group(2)) {
      case "k" -> n << 10;
      case "m" -> n << 20;
      default -> n << 30;
    };
  }
}
