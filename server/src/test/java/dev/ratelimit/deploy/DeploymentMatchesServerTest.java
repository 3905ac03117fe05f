package dev.ratelimit.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/** The Deployment configures the server through settings {@link Main} really reads, within its memory limit. */
class DeploymentMatchesServerTest {
  /** Chronicle Map's file for 1,000,000 counters of 48 + 142 bytes measured 243 MiB: x1.34 of the raw size. */
  private static final double STORE_OVERHEAD = 1.4;
  private static final long JVM_OTHER_BYTES = 200L << 20;

  private final CommandSpec cli = new CommandLine(new Main()).getCommandSpec();
  private final Container container = container();

  private static Container container() {
    try {
      return KubeYaml.only(KubeYaml.readDirectory(Repo.file("deploy")), Deployment.class)
          .getSpec().getTemplate().getSpec().getContainers().get(0);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  @Test
  void everyServerVariableTheDeploymentSetsIsReadByAFlag() {
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
    assertTrue(read.containsAll(set), "Main reads " + read + " but the Deployment sets " + set);
  }

  @Test
  void memoryLimitCoversHeapDirectBuffersAndTheOffHeapStore() {
    String jvm = KubernetesManifestsTest.env(container, "JAVA_TOOL_OPTIONS");
    long heap = bytes(jvm, "-Xmx");
    long direct = bytes(jvm, "-XX:MaxDirectMemorySize=");
    long entries = Long.parseLong(KubernetesManifestsTest.env(container, "RATELIMIT_MAX_ENTRIES"));
    long entryBytes = Long.parseLong(cli.findOption("--average-key-bytes").defaultValue())
        + Long.parseLong(cli.findOption("--average-value-bytes").defaultValue());
    long store = (long) (entries * entryBytes * STORE_OVERHEAD);
    long needed = heap + direct + store + JVM_OTHER_BYTES;

    Quantity limit = container.getResources().getLimits().get("memory");
    long limitBytes = Quantity.getAmountInBytes(limit).longValue();
    assertTrue(needed <= limitBytes, "needs " + (needed >> 20) + " MiB, limit " + limit);
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
