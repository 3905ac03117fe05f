package dev.ratelimit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The command line: --version, flags refused with a clear message, the registry's JVM and process meters. */
class MainTest {
  @Test
  void versionIsTheProjectVersion() {
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new Main());
    cli.setOut(new PrintWriter(out));
    assertEquals(0, cli.execute("--version"));
    String version = out.toString().trim();
    assertTrue(version.matches("ratelimit-server \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?"), version);
  }

  @Test
  void badEdgeFlagsAreRefusedBeforeAnythingStarts() {
    // Ephemeral ports for every listener: were a check to pass wrongly, the server started must not take (or fail
    // on) the default ports of a server already running on this machine.
    String[] ports = {"--port", "0", "--admin-port", "0", "--admin-grpc-port", "0"};
    assertEquals(2, new CommandLine(new Main()).execute(with(ports, "--response-headers", "rfc9999")));
    assertEquals(2, new CommandLine(new Main()).execute(with(ports, "--near-limit-ratio", "1.5")));
  }

  @Test
  void theRegistryCarriesJvmAndProcessMeters() {
    PrometheusMeterRegistry registry = Main.registry();
    String scrape = registry.scrape();
    for (String name : new String[] {"jvm_memory_used_bytes", "jvm_gc_", "jvm_threads_live_threads",
        "jvm_classes_loaded_classes", "process_cpu_usage", "process_uptime_seconds", "system_cpu_count"}) {
      assertTrue(scrape.contains(name), name);
    }
    assertNotNull(registry.find("jvm.memory.used").gauge());
  }

  private static String[] with(String[] ports, String... args) {
    String[] all = java.util.Arrays.copyOf(ports, ports.length + args.length);
    System.arraycopy(args, 0, all, ports.length, args.length);
    return all;
  }
}
