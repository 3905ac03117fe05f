package dev.ratelimit.policy;

import java.io.StringReader;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;

/**
 * Reads one YAML file of ours (a policy, an API-keys file) into its node tree, with line numbers kept for messages:
 * duplicate keys are errors, aliases are bounded, and an empty file is an error saying what was expected.
 */
public final class YamlDocument {
  private YamlDocument() {
  }

  /**
   * @param source the file name, for messages
   * @param expected what the file should hold, for the message about an empty file
   * @throws ConfigException naming the file and line of a syntax error
   */
  public static Node compose(String source, String text, String expected) throws ConfigException {
    Node document;
    try {
      LoaderOptions options = new LoaderOptions();
      options.setAllowDuplicateKeys(false);
      options.setMaxAliasesForCollections(20);
      document = new Yaml(options).compose(new StringReader(text));
    } catch (MarkedYAMLException e) {
      throw new ConfigException(source + ":" + (e.getProblemMark().getLine() + 1) + ": not valid YAML: "
          + e.getProblem());
    } catch (YAMLException e) {
      throw new ConfigException(source + ": not valid YAML: " + e.getMessage());
    }
    if (document == null) {
      throw new ConfigException(source + ": the file is empty; expected " + expected);
    }
    return document;
  }
}
