package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.ratelimit.Main;
import java.lang.reflect.Field;
import java.nio.file.Files;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
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

  /** A flag that reads an environment variable names it in its row, e.g. (`RATELIMIT_PORT`) or (`RATELIMIT_TLS_*`). */
  @Test
  void theFlagTableNamesTheEnvironmentVariableOfEveryFlagThatReadsOne() throws Exception {
    Map<String, String> firstCellOf = new TreeMap<>();
    for (String line : Files.readAllLines(Repo.file("README.md"))) {
      if (line.startsWith("| `--")) {
        String cell = line.split("\\|")[1];
        Matcher m = FLAG.matcher(cell);
        while (m.find()) {
          firstCellOf.put(m.group(1), cell);
        }
      }
    }
    Set<String> missing = new TreeSet<>();
    // The raw annotations: the command spec holds default values with the variables already resolved.
    for (Field field : Main.class.getDeclaredFields()) {
      CommandLine.Option option = field.getAnnotation(CommandLine.Option.class);
      Matcher env = ENV.matcher(option == null ? "" : option.defaultValue());
      if (!env.lookingAt()) {
        continue;
      }
      String variable = env.group(1);
      String flag = option.names()[0];
      String cell = firstCellOf.getOrDefault(flag, "");
      Matcher named = VARIABLE.matcher(cell);
      boolean found = false;
      while (named.find()) {
        String name = named.group(1);
        found |= name.endsWith("*") ? variable.startsWith(name.substring(0, name.length() - 1)) : name.equals(variable);
      }
      if (!found) {
        missing.add(flag + " (" + variable + ")");
      }
    }
    assertEquals(Set.of(), missing, "flags whose environment variable the README's flag table does not name");
  }

  private static final Pattern ENV = Pattern.compile("\\$\\{env:([A-Z0-9_]+)");
  private static final Pattern VARIABLE = Pattern.compile("`([A-Z][A-Z0-9_]*\\*?)`");
}
