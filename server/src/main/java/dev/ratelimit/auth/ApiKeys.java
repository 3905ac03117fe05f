package dev.ratelimit.auth;

import dev.ratelimit.policy.ConfigException;
import dev.ratelimit.policy.YamlDocument;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;




import org.yaml.snakeyaml.nodes.MappingNode;
import org.yaml.snakeyaml.nodes.Node;
import org.yaml.snakeyaml.nodes.NodeTuple;
import org.yaml.snakeyaml.nodes.ScalarNode;
import org.yaml.snakeyaml.nodes.SequenceNode;

/**
 * An immutable set of API keys, each known only by the SHA-256 of the key: the file never holds a key itself. Parsed
 * from YAML ({@code keys: [{sha256, org, tier, id}]}); every error names the file, line and field.
 *
 * <p>A presented key is hashed and looked up by its digest; the digest found is compared with {@link
 * MessageDigest#isEqual} (constant time). The lookup by digest reveals nothing an attacker can use: they know the
 * digest of the key they sent, and cannot invert a stored one.
 */
public final class ApiKeys {
  private static final Set<String> ENTRY_FIELDS = Set.of("sha256", "org", "tier", "id");

  /**
   * What a valid key resolves to.
   *
   * @param org organisation id, sent upstream as {@code x-org-id}
   * @param tier plan name, sent upstream as {@code x-org-tier}; any non-empty string the policy matches on
   * @param id optional key id ({@code x-api-key-id}) for per-key firewall rules, null when absent
   */
  public record Entry(String org, String tier, String id) {}

  private final Map<Digest, Entry> byDigest;

  private ApiKeys(Map<Digest, Entry> byDigest) {
    this.byDigest = Map.copyOf(byDigest);
  }

  /** No keys: every key presented is unknown. */
  public static ApiKeys empty() {
    return new ApiKeys(Map.of());
  }

  /** Number of keys. */
  public int size() {
    return byDigest.size();
  }

  /** The entry of {@code presentedKey}, or null when it is not a known key. */
  public Entry lookup(String presentedKey) {
    return byDigest.get(new Digest(sha256(presentedKey.getBytes(StandardCharsets.UTF_8))));
  }

  /** Hex SHA-256 of {@code key} as it goes into the keys file. */
  public static String sha256Hex(String key) {
    return HexFormat.of().formatHex(sha256(key.getBytes(StandardCharsets.UTF_8)));
  }

  /**
   * Parses a keys file.
   *
   * @param source the file name, for messages
   * @throws ConfigException naming the file, line and field of the first problem
   */
  public static ApiKeys parse(String source, String text) throws ConfigException {
    Node document = YamlDocument.compose(source, text, "'keys:' with a list of entries");
    Map<String, Node> top = fields(source, "", document, Set.of("keys"));
    Node keys = top.get("keys");
    if (keys == null) {
      throw error(source, document, "keys", "is missing; expected a list of {sha256, org, tier, id} entries");
    }
    Map<Digest, Entry> entries = new HashMap<>();
    Map<Digest, Integer> lines = new HashMap<>();
    if (keys instanceof ScalarNode scalar && scalar.getValue().isEmpty()) {
      return new ApiKeys(entries); // "keys:" with nothing: no key is valid
    }
    if (!(keys instanceof SequenceNode list)) {
      throw error(source, keys, "keys", "must be a list of {sha256, org, tier, id} entries");
    }
    for (int i = 0; i < list.getValue().size(); i++) {
      Node node = list.getValue().get(i);
      String path = "keys[" + i + "]";
      Map<String, Node> fields = fields(source, path, node, ENTRY_FIELDS);
      String hex = required(source, path, node, fields, "sha256").toLowerCase(java.util.Locale.ROOT);
      if (!hex.matches("[0-9a-f]{64}")) {
        throw error(source, fields.get("sha256"), path + ".sha256",
            "must be the 64 hex digits of the key's SHA-256 (e.g. printf %s KEY | sha256sum), never the key itself");
      }
      String org = required(source, path, node, fields, "org");
      String tier = required(source, path, node, fields, "tier");
      String id = fields.containsKey("id") ? required(source, path, node, fields, "id") : null;
      Digest digest = new Digest(HexFormat.of().parseHex(hex));
      Integer previous = lines.putIfAbsent(digest, line(fields.get("sha256")));
      if (previous != null) {
        throw error(source, fields.get("sha256"), path + ".sha256", "the same key is already listed on line "
            + previous);
      }
      entries.put(digest, new Entry(org, tier, id));
    }
    return new ApiKeys(entries);
  }

  private static Map<String, Node> fields(String source, String path, Node node, Set<String> allowed)
      throws ConfigException {
    if (!(node instanceof MappingNode mapping)) {
      throw error(source, node, path.isEmpty() ? "(top level)" : path, "must be a mapping of fields");
    }
    Map<String, Node> fields = new HashMap<>();
    for (NodeTuple tuple : mapping.getValue()) {
      String name = tuple.getKeyNode() instanceof ScalarNode key ? key.getValue() : null;
      String field = path.isEmpty() ? String.valueOf(name) : path + "." + name;
      if (name == null || !allowed.contains(name)) {
        throw error(source, tuple.getKeyNode(), field, "unknown field; expected one of "
            + allowed.stream().sorted().toList());
      }
      fields.put(name, tuple.getValueNode());
    }
    return fields;
  }

  private static String required(String source, String path, Node entry, Map<String, Node> fields, String name)
      throws ConfigException {
    Node value = fields.get(name);
    if (value == null) {
      throw error(source, entry, path + "." + name, "is missing");
    }
    if (!(value instanceof ScalarNode scalar) || scalar.getValue().isBlank()) {
      throw error(source, value, path + "." + name, "must be a non-empty string");
    }
    return scalar.getValue().trim();
  }

  private static int line(Node node) {
    return node.getStartMark() == null ? 0 : node.getStartMark().getLine() + 1;
  }

  private static ConfigException error(String source, Node node, String field, String problem) {
    return new ConfigException(source + ":" + line(node) + ": " + field + ": " + problem);
  }

  private static byte[] sha256(byte[] bytes) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(bytes);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JDK provides SHA-256", e);
    }
  }

  /** A SHA-256 digest as a map key, compared in constant time. */
  private static final class Digest {
    private final byte[] bytes;
    private final int hash;

    Digest(byte[] bytes) {
      this.bytes = bytes;
      this.hash = Arrays.hashCode(bytes);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Digest other && MessageDigest.isEqual(bytes, other.bytes);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }
}
