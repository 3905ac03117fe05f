package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.Main;
import dev.ratelimit.store.ChronicleMapStore;
import java.nio.file.Files;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The memory per 1,000,000 counters stated once in docs/operations.md is what a store sized with the server's default
 * flags takes.
 */
@Tag("deploy")
class MemoryFigureTest {
  private static final Pattern DEFAULT_ROW =
      Pattern.compile("\\| \\*\\*(\\d+) \\(default\\)\\*\\* \\|.*\\| \\*\\*(\\d+) MiB\\*\\* \\|");

  @Test
  void theDocumentedFigureIsWhatTheDefaultStoreTakes() throws Exception {
    Matcher row = DEFAULT_ROW.matcher(Files.readString(Repo.file("docs/operations.md")));
    assertTrue(row.find(), "docs/operations.md has no bold default row in 'Memory per counter'");
    CommandSpec cli = new CommandLine(new Main()).getCommandSpec();
    int keyBytes = Integer.parseInt(cli.findOption("--average-key-bytes").defaultValue());
    int valueBytes = Integer.parseInt(cli.findOption("--average-value-bytes").defaultValue());
    assertEquals(valueBytes, Integer.parseInt(row.group(1)), "the row is the flag's default");
    try (ChronicleMapStore store =
        ChronicleMapStore.open(new ChronicleMapStore.Settings(1_000_000, keyBytes, valueBytes, null))) {
      assertEquals(Long.parseLong(row.group(2)), Math.round(store.offHeapBytes() / (1024.0 * 1024.0)),
          "MiB per 1,000,000 counters of " + keyBytes + " + " + valueBytes + " bytes");
    }
  }
}
