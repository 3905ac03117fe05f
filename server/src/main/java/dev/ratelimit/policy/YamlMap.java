package dev.ratelimit.policy;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * A YAML mapping read field by field, so that every error names the source, line and field path, and fields nobody
 * asked for are reported as unknown.
 */
final class YamlMap {
  private final String source;
  private final String path;
  private final Node node;
  private final Map<String, NodeTuple> fields = new LinkedHashMap<>();

  private YamlMap(String source, String path, Node node) {
    this.source = source;
    this.path = path;
    this.node = node;
  }

  static YamlMap of(String source, String path, Node node) throws ConfigException {
    YamlMap map = new YamlMap(source, path, node);
    if (!(node instanceof MappingNode mapping)) {
      throw map.error(node, path, "must be a mapping of fields");
    }
    for (NodeTuple tuple : mapping.getValue()) {
      if (!(tuple.getKeyNode() instanceof ScalarNode key)) {
        throw map.error(tuple.getKeyNode(), path, "field names must be plain strings");
      }
      if (map.fields.put(key.getValue(), tuple) != null) {
        throw map.error(key, map.field(key.getValue()), "is given twice");
      }
    }
    return map;
  }

  String source() {
    return source;
  }

  String path() {
    return path;
  }

  String field(String name) {
    return path.isEmpty() ? name : path + "." + name;
  }

  boolean has(String name) {
    return fields.containsKey(name);
  }

  /** Fails on the first field not in {@code known}. */
  void rejectUnknown(Set<String> known) throws ConfigException {
    for (Map.Entry<String, NodeTuple> e : fields.entrySet()) {
      if (!known.contains(e.getKey())) {
        throw error(e.getValue().getKeyNode(), field(e.getKey()),
            "unknown field; expected one of " + known.stream().sorted().toList());
      }
    }
  }

  String string(String name) throws ConfigException {
    Node value = value(name);
    if (value == null) {
      return null;
    }
    if (!(value instanceof ScalarNode scalar)) {
      throw error(value, field(name), "must be a string");
    }
    return scalar.getValue();
  }

  String requiredString(String name) throws ConfigException {
    String value = string(name);
    if (value == null || value.isEmpty()) {
      throw error(node, field(name), "is required and must not be empty");
    }
    return value;
  }

  boolean bool(String name, boolean defaultValue) throws ConfigException {
    String value = string(name);
    if (value == null) {
      return defaultValue;
    }
    return switch (value) {
      case "true" -> true;
      case "false" -> false;
      default -> throw error(value(name), field(name), "must be true or false, not '" + value + "'");
    };
  }

  /** A whole number in [min, max], or {@code defaultValue} when absent. */
  long number(String name, long min, long max, long defaultValue) throws ConfigException {
    String value = string(name);
    if (value == null) {
      return defaultValue;
    }
    long parsed;
    try {
      parsed = Long.parseLong(value.replace("_", ""));
    } catch (NumberFormatException e) {
      throw error(value(name), field(name), "must be a whole number, not '" + value + "'");
    }
    if (parsed < min || parsed > max) {
      throw error(value(name), field(name), "must be between " + min + " and " + max + ", not " + parsed);
    }
    return parsed;
  }

  /** A decimal number that must be at least zero, or {@code defaultValue} when absent. */
  double nonNegativeDecimal(String name, double defaultValue) throws ConfigException {
    String value = string(name);
    if (value == null) {
      return defaultValue;
    }
    try {
      double parsed = Double.parseDouble(value);
      if (parsed >= 0 && Double.isFinite(parsed)) {
        return parsed;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw error(value(name), field(name), "must be a number of at least 0, not '" + value + "'");
  }

  YamlMap map(String name) throws ConfigException {
    Node value = value(name);
    return value == null ? null : YamlMap.of(source, field(name), value);
  }

  /** The items of a list field (empty when absent). */
  List<Node> list(String name) throws ConfigException {
    Node value = value(name);
    if (value == null) {
      return List.of();
    }
    if (!(value instanceof SequenceNode sequence)) {
      throw error(value, field(name), "must be a list");
    }
    return new ArrayList<>(sequence.getValue());
  }

  Node value(String name) {
    NodeTuple tuple = fields.get(name);
    return tuple == null ? null : tuple.getValueNode();
  }

  ConfigException error(String name, String problem) {
    Node at = value(name);
    return error(at == null ? node : at, field(name), problem);
  }

  /** A message for a field that is accepted but suspicious, in the same file:line: field: form as errors. */
  String warning(String name, String problem) {
    Node at = value(name);
    return source + ":" + ((at == null ? node : at).getStartMark().getLine() + 1) + ": " + field(name) + ": " + problem;
  }

  ConfigException error(Node at, String fieldPath, String problem) {
    return new ConfigException(
        source + ":" + (at.getStartMark().getLine() + 1) + ": " + fieldPath + ": " + problem);
  }
}
