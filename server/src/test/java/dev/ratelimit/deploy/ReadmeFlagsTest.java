package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.Main;
import java.nio.file.Files;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.OptionSpec;

/** The README's flag table and the server's command line name the same flags, so neither drifts from the other. */
@Tag("deploy")
class ReadmeFlagsTest {
  private static final Pattern FLAG = Pattern.compile("`(--[a-z0-9-]+)`");

  @Test
  void theFlagTableListsEveryFlagAndOnlyRealOnes() throws Exception {
    Set<String> documented = new TreeSet<>();
    for (String line : Files.readAllLines(Repo.file("README.md"))) {
      if (line.startsWith("| `--")) {
        Matcher m = FLAG.matcher(line.split("\\|")[1]);
        while (m.find()) {
          documented.add(m.group(1));
        }
      }
    }
    CommandLine cli = new CommandLine(new Main());
    Set<String> accepted = new TreeSet<>();
    Set<String> real = new TreeSet<>();
    for (OptionSpec option : cli.getCommandSpec().options()) {
      if (option.usageHelp() || option.versionHelp()) {
        continue;
      }
      real.add(option.longestName());
      for (String name : option.names()) {
        accepted.add(name);
        if (option.negatable()) {
          accepted.add(name.replaceFirst("^--", "--no-"));
        }
      }
    }
    Set<String> unknown = new TreeSet<>(documented);
    unknown.removeAll(accepted);
    assertEquals(Set.of(), unknown, "in the README's flag table but not accepted by the server");
    Set<String> undocumented = new TreeSet<>(real);
    undocumented.removeAll(documented);
    assertEquals(Set.of(), undocumented, "accepted by the server but missing from the README's flag table");
  }
}
