package dev.ratelimit.config;

import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.SlidingWindowLimiter;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.nodes.Node;

/**
 * Reads policy files in the envoyproxy/ratelimit YAML format plus our additions (DESIGN §2) and validates them into a
 * {@link PolicyIndex}. Every error names the file, the line, the field and what is wrong.
 */
public final class PolicyLoader {
  /** Classpath location of the default policy shipped in the jar (a copy of envoy-config/ratelimit/api.yaml). */
  public static final String DEFAULT_POLICY_RESOURCE = "/default-policy/api.yaml";

  /** The largest limit Envoy can express ({@code requests_per_unit} is a uint32). */
  public static final long MAX_LIMIT = 0xFFFF_FFFFL;

  private static final Set<String> TOP_FIELDS = Set.of("domain", "descriptors");
  private static final Set<String> DESCRIPTOR_FIELDS =
      Set.of("key", "value", "rate_limit", "descriptors", "shadow_mode", "detailed_metric", "value_to_metric",
          "share_threshold", "quota_mode", "metadata");
  private static final Set<String> RATE_LIMIT_FIELDS =
      Set.of("unit", "requests_per_unit", "unit_multiplier", "name", "unlimited", "replaces", "algorithm", "window",
          "precision", "report_headers");
  private static final Set<String> REPLACES_FIELDS = Set.of("name");

  /** Loads one file, or every {@code *.yaml}/{@code *.yml} file of a directory (one domain per file). */
  public PolicyIndex load(Path path) throws ConfigException {
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
    return parse(sources);
  }

  /** Loads the default policy embedded in the jar. */
  public PolicyIndex loadDefault() throws ConfigException {
    try (InputStream in = PolicyLoader.class.getResourceAsStream(DEFAULT_POLICY_RESOURCE)) {
      if (in == null) {
        throw new ConfigException("the embedded default policy " + DEFAULT_POLICY_RESOURCE + " is missing");
      }
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      return parse(Map.of("classpath:" + DEFAULT_POLICY_RESOURCE, text));
    } catch (IOException e) {
      throw new ConfigException("the embedded default policy cannot be read: " + e.getMessage(), e);
    }
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
      throw new ConfigException(source + ": the file is empty; expected 'domain' and 'descriptors'");
    }
    YamlMap top = YamlMap.of(source, "", document);
    top.rejectUnknown(TOP_FIELDS);
    String domain = top.requiredString("domain");
    DescriptorNode root = DescriptorNode.root();
    List<RateLimitRule> rules = new ArrayList<>();
    parseChildren(top, root, domain, rules);
    checkReplaces(top, rules);
    return new DomainPolicy(domain, source, root, rules);
  }

  private void parseChildren(YamlMap parentMap, DescriptorNode parent, String idPrefix, List<RateLimitRule> rules)
      throws ConfigException {
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
      RateLimitRule rule = rateLimit == null ? null : parseRule(map, rateLimit, id);
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
      parseChildren(map, node, id, rules);
    }
  }

  private RateLimitRule parseRule(YamlMap descriptor, YamlMap rl, String id) throws ConfigException {
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
      for (String field : List.of("requests_per_unit", "algorithm", "window", "precision", "unit_multiplier")) {
        if (rl.has(field)) {
          throw rl.error(field, "must not be set on an unlimited rule");
        }
      }
      Unit unit = rl.has("unit") ? parseUnit(rl) : Unit.SECOND;
      return new RateLimitRule(id, name == null ? id : name, 0, unit, unit.length(), Algorithm.SLIDING_WINDOW,
          null, true, shadowMode, false, detailedMetric, replaces);
    }
    Unit unit = parseUnit(rl);
    if (!rl.has("requests_per_unit")) {
      throw rl.error("requests_per_unit", "is required (or set unlimited: true)");
    }
    long limit = rl.number("requests_per_unit", 0, MAX_LIMIT, 0);
    long multiplier = rl.number("unit_multiplier", 1, 1_000_000, 1);
    Duration window = unit.length().multipliedBy(multiplier);
    if (rl.has("window")) {
      window = Durations.parse(rl.string("window"));
      if (window == null) {
        throw rl.error("window", "must be a positive duration such as 250ms, 10s, 5m, 1h or 1d");
      }
      if (rl.has("unit_multiplier")) {
        throw rl.error("window", "set either window or unit_multiplier, not both");
      }
    }
    String algorithmName = rl.string("algorithm");
    Algorithm algorithm = algorithmName == null ? Algorithm.SLIDING_WINDOW : Algorithm.parse(algorithmName);
    if (algorithm == null) {
      throw rl.error("algorithm", "unknown algorithm '" + algorithmName + "'; expected sliding_window");
    }
    Limiter limiter = buildLimiter(rl, algorithm, window);
    return new RateLimitRule(id, name == null ? id : name, limit, unit, window, algorithm, limiter, false, shadowMode,
        reportHeaders, detailedMetric, replaces);
  }

  private Limiter buildLimiter(YamlMap rl, Algorithm algorithm, Duration window) throws ConfigException {
    if (algorithm != Algorithm.SLIDING_WINDOW) {
      throw rl.error("algorithm", "algorithm '" + algorithm.configName() + "' is not available in this build");
    }
    long windowMillis = window.toMillis();
    int defaultPrecision = SlidingWindowLimiter.defaultPrecision(window);
    long precision = rl.number("precision", 1, Math.min(windowMillis, 10_000), defaultPrecision);
    if (windowMillis % precision != 0) {
      throw rl.error("precision", "must divide the window of " + windowMillis + " ms into whole milliseconds; "
          + precision + " does not (the default for this window is " + defaultPrecision + ")");
    }
    return new SlidingWindowLimiter(window, (int) precision);
  }

  /** Validates the boolean flags of a descriptor entry, including those accepted for compatibility only. */
  private static void checkFlags(YamlMap descriptor) throws ConfigException {
    for (String flag : List.of("shadow_mode", "detailed_metric", "value_to_metric", "quota_mode")) {
      descriptor.bool(flag, false);
    }
  }

  private static Unit parseUnit(YamlMap rl) throws ConfigException {
    String name = rl.string("unit");
    if (name == null) {
      throw rl.error("unit", "is required: second, minute, hour, day, week, month or year");
    }
    Unit unit = Unit.parse(name);
    if (unit == null) {
      throw rl.error("unit", "unknown unit '" + name + "'; expected second, minute, hour, day, week, month or year");
    }
    return unit;
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
