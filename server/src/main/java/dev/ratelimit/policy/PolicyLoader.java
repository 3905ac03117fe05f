package dev.ratelimit.policy;

import dev.ratelimit.limiter.Limiter;
import java.io.IOException;
import java.io.InputStream;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;




import org.yaml.snakeyaml.nodes.Node;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads policy files in the envoyproxy/ratelimit YAML format plus our additions (README, Configuration) and validates them into a
 * {@link PolicyIndex}. Every error names the file, the line, the field and what is wrong.
 */
public final class PolicyLoader {
  private static final Logger log = LoggerFactory.getLogger(PolicyLoader.class);

  /** Classpath location of the default policy shipped in the jar (a copy of envoy-config/ratelimit/api.yaml). */
  public static final String DEFAULT_POLICY_RESOURCE = "/default-policy/api.yaml";

  /** The largest limit Envoy can express ({@code requests_per_unit} is a uint32). */
  public static final long MAX_LIMIT = 0xFFFF_FFFFL;

  private static final Set<String> TOP_FIELDS = Set.of("domain", "descriptors", "rejected_requests");
  private static final Set<String> DESCRIPTOR_FIELDS =
      Set.of("key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric", "value_to_metric",
          "share_threshold", "quota_mode", "metadata");
  private static final Set<String> RATE_LIMIT_FIELDS =
      Set.of("unit", "requests_per_unit", "unit_multiplier", "name", "unlimited", "replaces", "algorithm", "window",
          "precision", "report_headers", "initial_tokens", "capacity", "refill_tokens", "refill_interval", "dynamic",
          "penalty");
  /** Fields only some algorithms take, in the order they are checked. */
  private static final List<Map.Entry<String, Set<Algorithm>>> ALGORITHM_FIELDS = List.of(
      Map.entry("requests_per_unit", EnumSet.of(Algorithm.SLIDING_WINDOW, Algorithm.FIXED_WINDOW)),
      Map.entry("unit_multiplier", EnumSet.of(Algorithm.SLIDING_WINDOW, Algorithm.FIXED_WINDOW, Algorithm.DYNAMIC)),
      Map.entry("window", EnumSet.of(Algorithm.SLIDING_WINDOW, Algorithm.FIXED_WINDOW, Algorithm.DYNAMIC)),
      Map.entry("precision", EnumSet.of(Algorithm.SLIDING_WINDOW, Algorithm.DYNAMIC)),
      Map.entry("initial_tokens", EnumSet.of(Algorithm.TOKEN_BUCKET)),
      Map.entry("capacity", EnumSet.of(Algorithm.TOKEN_BUCKET)),
      Map.entry("refill_tokens", EnumSet.of(Algorithm.TOKEN_BUCKET)),
      Map.entry("refill_interval", EnumSet.of(Algorithm.TOKEN_BUCKET)),
      Map.entry("dynamic", EnumSet.of(Algorithm.DYNAMIC)));
  /** Fields an unlimited rule must not carry. */
  private static final List<String> UNLIMITED_FORBIDDEN = List.of("requests_per_unit", "algorithm", "window",
      "precision", "unit_multiplier", "initial_tokens", "capacity", "refill_tokens", "refill_interval", "dynamic",
      "penalty");
  private static final Set<String> REPLACES_FIELDS = Set.of("name");

  /** Loads one file, or every {@code *.yaml}/{@code *.yml} file of a directory (one domain per file). */
  public PolicyIndex load(Path path) throws ConfigException {
    return parse(read(path));
  }

  /**
   * Reads the policy texts {@link #load} would parse, keyed by file name: one file, or every {@code *.yaml}/{@code
   * *.yml} regular file of a directory (symbolic links followed, as in a Kubernetes ConfigMap volume).
   */
  public Map<String, String> read(Path path) throws ConfigException {
    List<Path> files = new ArrayList<>();
    if (Files.isDirectory(path)) {
      try (Stream<Path> listing = Files.list(path)) {
        listing
            .filter(p -> Files.isRegularFile(p))
            .filter(p -> p.getFileName().toString().matches(".*\\.ya?ml"))
            .sorted()
            .forEach(files::add);
      } catch (IOException e) {
        throw new ConfigException(path + ": cannot list the directory: " + e.getMessage(), e);
      }
      if (files.isEmpty()) {
        throw new ConfigException(path + ": the directory holds no .yaml or .yml policy file");
      }
    } else if (Files.isRegularFile(path)) {
      files.add(path);
    } else {
      throw new ConfigException(path + ": no such file or directory");
    }
    Map<String, String> sources = new HashMap<>();
    for (Path file : files) {
      try {
        sources.put(file.toString(), Files.readString(file, StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new ConfigException(file + ": cannot be read: " + e.getMessage(), e);
      }
    }
    return sources;
  }

  /** Loads the default policy embedded in the jar. */
  public PolicyIndex loadDefault() throws ConfigException {
    return parse(readDefault());
  }

  /** The text of the default policy embedded in the jar, keyed by its {@code classpath:} name. */
  public Map<String, String> readDefault() throws ConfigException {
    try (InputStream in = PolicyLoader.class.getResourceAsStream(DEFAULT_POLICY_RESOURCE)) {
      if (in == null) {
        throw new ConfigException("the embedded default policy " + DEFAULT_POLICY_RESOURCE + " is missing");
      }
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      return Map.of("classpath:" + DEFAULT_POLICY_RESOURCE, text);
    } catch (IOException e) {
      throw new ConfigException("the embedded default policy cannot be read: " + e.getMessage(), e);
    }
  }

  /** The domain's {@code rejected_requests}, or null to follow the server's default. */
  private static RejectedRequests rejectedRequests(YamlMap top) throws ConfigException {
    String text = top.string("rejected_requests");
    if (text == null) {
      return null;
    }
    RejectedRequests value = RejectedRequests.parse(text);
    if (value == null) {
      throw top.error("rejected_requests", "unknown value '" + text + "'; expected count_nowhere (a rejected request "
          + "counts in no bucket) or count_within_limit (envoyproxy/ratelimit's default)");
    }
    return value;
  }

  /** Parses policy texts keyed by their source name; each declares one domain, and no domain twice. */
  public PolicyIndex parse(Map<String, String> sourcesByName) throws ConfigException {
    Map<String, DomainPolicy> domains = new HashMap<>();
    for (Map.Entry<String, String> source : sourcesByName.entrySet().stream().sorted(Map.Entry.comparingByKey()).toList()) {
      DomainPolicy domain = parseDomain(source.getKey(), source.getValue());
      DomainPolicy previous = domains.putIfAbsent(domain.domain(), domain);
      if (previous != null) {
        throw new ConfigException(source.getKey() + ": domain '" + domain.domain() + "' is already declared in "
            + previous.source());
      }
    }
    return new PolicyIndex(domains);
  }

  DomainPolicy parseDomain(String source, String text) throws ConfigException {
    Node document = YamlDocument.compose(source, text, "'domain' and 'descriptors'");
    YamlMap top = YamlMap.of(source, "", document);
    top.rejectUnknown(TOP_FIELDS);
    String domain = top.requiredString("domain");
    DescriptorNode root = DescriptorNode.root();
    List<RateLimitRule> rules = new ArrayList<>();
    List<String> warnings = new ArrayList<>();
    parseChildren(top, root, domain, rules, warnings);
    checkReplaces(top, rules);
    return new DomainPolicy(domain, source, root, rules, warnings, rejectedRequests(top));
  }

  private void parseChildren(YamlMap parentMap, DescriptorNode parent, String idPrefix, List<RateLimitRule> rules,
      List<String> warnings) throws ConfigException {
    List<Node> items = parentMap.list("descriptors");
    for (int i = 0; i < items.size(); i++) {
      YamlMap map = YamlMap.of(parentMap.source(), parentMap.field("descriptors") + "[" + i + "]", items.get(i));
      map.rejectUnknown(DESCRIPTOR_FIELDS);
      String key = map.requiredString("key");
      String value = map.string("value");
      if (value != null && value.isEmpty()) {
        value = null;
      }
      boolean shareThreshold = map.bool("share_threshold", false);
      if (shareThreshold && (value == null || value.indexOf('*') < 0)) {
        throw map.error("share_threshold", "applies only to a value with a '*' wildcard");
      }
      String id = idPrefix + "/" + key + (value == null ? "" : "=" + value);
      YamlMap rateLimit = map.map("rate_limit");
      RateLimitRule rule = rateLimit == null ? null : parseRule(map, rateLimit, id, parent, key, warnings);
      if (rule == null) {
        checkFlags(map);
      }
      DescriptorNode node = new DescriptorNode(key, value, shareThreshold, rule, parent);
      if (!parent.addChild(node)) {
        throw map.error(map.value("key"), map.path(),
            "duplicate entry: key '" + key + "'" + (value == null ? " without a value" : " with value '" + value + "'")
                + " already appears at this level");
      }
      if (rule != null) {
        rules.add(rule);
      }
      parseChildren(map, node, id, rules, warnings);
    }
  }

  private RateLimitRule parseRule(YamlMap descriptor, YamlMap rl, String id, DescriptorNode parent, String key,
      List<String> warnings) throws ConfigException {
    rl.rejectUnknown(RATE_LIMIT_FIELDS);
    checkFlags(descriptor);
    boolean shadowMode = descriptor.bool("shadow_mode", false);
    boolean detailedMetric = descriptor.bool("detailed_metric", false);
    String name = rl.string("name");
    List<String> replaces = new ArrayList<>();
    for (Node item : rl.list("replaces")) {
      YamlMap replaced = YamlMap.of(rl.source(), rl.field("replaces"), item);
      replaced.rejectUnknown(REPLACES_FIELDS);
      replaces.add(replaced.requiredString("name"));
    }
    boolean unlimited = rl.bool("unlimited", false);
    boolean reportHeaders = rl.bool("report_headers", true);
    if (unlimited) {
      for (String field : UNLIMITED_FORBIDDEN) {
        if (rl.has(field)) {
          throw rl.error(field, "must not be set on an unlimited rule");
        }
      }
      Unit unit = rl.has("unit") ? AlgorithmFields.parseUnit(rl) : Unit.SECOND;
      return RateLimitRule.builder(id).name(name).unit(unit).shadowMode(shadowMode).reportHeaders(false)
          .detailedMetric(detailedMetric).replaces(replaces).build();
    }
    String algorithmName = rl.string("algorithm");
    Algorithm algorithm = algorithmName == null ? Algorithm.SLIDING_WINDOW : Algorithm.parse(algorithmName);
    if (algorithm == null) {
      throw rl.error("algorithm", "unknown algorithm '" + algorithmName
          + "'; expected sliding_window, fixed_window, token_bucket or dynamic");
    }
    for (Map.Entry<String, Set<Algorithm>> field : ALGORITHM_FIELDS) {
      if (rl.has(field.getKey()) && !field.getValue().contains(algorithm)) {
        throw rl.error(field.getKey(), "applies only to algorithm "
            + String.join(" or ", field.getValue().stream().map(Algorithm::configName).toList())
            + "; this rule's algorithm is " + algorithm.configName());
      }
    }
    AlgorithmFields.Shape shape = switch (algorithm) {
      case SLIDING_WINDOW -> AlgorithmFields.slidingWindow(rl, AlgorithmFields.requestsPerUnit(rl), null);
      case FIXED_WINDOW -> AlgorithmFields.fixedWindow(rl);
      case TOKEN_BUCKET -> AlgorithmFields.tokenBucket(rl, warnings);
      case DYNAMIC -> AlgorithmFields.dynamic(rl, parent, key);
    };
    Limiter limiter = shape.limiter();
    YamlMap penalty = rl.map("penalty");
    if (penalty != null) {
      limiter = AlgorithmFields.penalty(penalty, limiter, shape.window());
    }
    return RateLimitRule.builder(id).name(name).requestsPerUnit(shape.limit()).unit(shape.unit())
        .window(shape.window()).algorithm(algorithm).limiter(limiter).shadowMode(shadowMode)
        .reportHeaders(reportHeaders).detailedMetric(detailedMetric).replaces(replaces).dynamic(shape.dynamic())
        .build();
  }

  /** Validates the boolean flags of a descriptor entry, including those accepted for compatibility only. */
  private static void checkFlags(YamlMap descriptor) throws ConfigException {
    for (String flag : List.of("shadow_mode", "detailed_metric", "value_to_metric", "quota_mode")) {
      descriptor.bool(flag, false);
    }
  }

  private static void checkReplaces(YamlMap top, List<RateLimitRule> rules) throws ConfigException {
    Set<String> names = new HashSet<>();
    rules.forEach(r -> names.add(r.name()));
    for (RateLimitRule rule : rules) {
      for (String replaced : rule.replaces()) {
        if (!names.contains(replaced)) {
          throw new ConfigException(top.source() + ": rule " + rule.id()
              + ": rate_limit.replaces refers to no rule named '" + replaced + "'");
        }
      }
    }
  }

}
