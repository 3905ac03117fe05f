package dev.ratelimit.policy;

import static dev.ratelimit.testing.TestServer.descriptor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.limiter.SlidingWindowLimiter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Loading and validating policy files (README, Configuration). */
class PolicyLoaderTest {
  private final PolicyLoader loader = new PolicyLoader();

  private PolicyIndex parse(String yaml) throws ConfigException {
    return loader.parse(Map.of("test.yaml", yaml));
  }

  private String error(String yaml) {
    return assertThrows(ConfigException.class, () -> parse(yaml)).getMessage();
  }

  @Test
  void theEmbeddedDefaultPolicyHoldsTodaysPlans() throws Exception {
    DomainPolicy api = loader.loadDefault().domain("api");
    assertNotNull(api);
    Map<String, Long> expected = Map.of("free", 60L, "developer", 600L, "launch", 3000L, "pro", 9000L);
    expected.forEach((tier, limit) -> {
      RateLimitRule rule = PolicyIndex.match(api, descriptor("tier", tier, "org", "any-org")).rule();
      assertEquals(limit, rule.requestsPerUnit(), tier);
      assertEquals(Duration.ofSeconds(60), rule.window());
      assertEquals(Algorithm.SLIDING_WINDOW, rule.algorithm());
    });
    assertEquals(30, PolicyIndex.match(api, descriptor("tier", "keyless", "remote_address", "1.2.3.4"))
        .rule().requestsPerUnit());
    assertEquals(100, PolicyIndex.match(api, descriptor("bucket", "execute", "tier", "pro", "org", "o"))
        .rule().requestsPerUnit());
    assertEquals(Duration.ofSeconds(1), PolicyIndex.match(api, descriptor("bucket", "submit", "tier", "free", "org",
        "o")).rule().window());
  }

  @Test
  void theDefaultPolicyInTheJarIsTheOneInEnvoyConfig() throws Exception {
    Path source = Path.of("../envoy-config/ratelimit/api.yaml");
    try (var in = PolicyLoader.class.getResourceAsStream(PolicyLoader.DEFAULT_POLICY_RESOURCE)) {
      assertEquals(Files.readString(source), new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8));
    }
  }

  @Test
  void matchingFollowsEnvoyProxyRatelimit() throws Exception {
    DomainPolicy d = parse("""
        domain: d
        descriptors:
          - key: k
            value: exact
            rate_limit: {unit: second, requests_per_unit: 1}
          - key: k
            value: "pre*fix"
            rate_limit: {unit: second, requests_per_unit: 2}
          - key: k
            rate_limit: {unit: second, requests_per_unit: 3}
            descriptors:
              - key: inner
                rate_limit: {unit: second, requests_per_unit: 4}
        """).domain("d");
    assertEquals(1, PolicyIndex.match(d, descriptor("k", "exact")).rule().requestsPerUnit());
    assertEquals(2, PolicyIndex.match(d, descriptor("k", "prefix")).rule().requestsPerUnit());
    assertEquals(2, PolicyIndex.match(d, descriptor("k", "pre-and-fix")).rule().requestsPerUnit());
    assertEquals(3, PolicyIndex.match(d, descriptor("k", "other")).rule().requestsPerUnit());
    assertEquals(4, PolicyIndex.match(d, descriptor("k", "other", "inner", "x")).rule().requestsPerUnit());
    assertNull(PolicyIndex.match(d, descriptor("k", "other", "unknown", "x")), "deeper than the tree: no rule");
    assertNull(PolicyIndex.match(d, descriptor("nope", "x")));
  }

  @Test
  void ourAdditionsAreParsed() throws Exception {
    RateLimitRule rule = PolicyIndex.match(parse("""
        domain: d
        descriptors:
          - key: k
            rate_limit:
              name: tenth
              unit: second
              unit_multiplier: 10
              requests_per_unit: 100
              precision: 20
              report_headers: false
        """).domain("d"), descriptor("k", "v")).rule();
    assertEquals("tenth", rule.name());
    assertEquals(Duration.ofSeconds(10), rule.window());
    assertEquals(20, ((SlidingWindowLimiter) rule.limiter()).precision());
    assertTrue(!rule.reportHeaders());
  }

  @Test
  void aDirectoryLoadsOneDomainPerFile(@TempDir Path dir) throws Exception {
    Files.writeString(dir.resolve("a.yaml"), "domain: a\ndescriptors: []\n");
    Files.writeString(dir.resolve("b.yml"), "domain: b\ndescriptors: []\n");
    Files.writeString(dir.resolve("notes.txt"), "ignored");
    PolicyIndex index = loader.load(dir);
    assertNotNull(index.domain("a"));
    assertNotNull(index.domain("b"));
    Files.writeString(dir.resolve("c.yaml"), "domain: a\ndescriptors: []\n");
    String message = assertThrows(ConfigException.class, () -> loader.load(dir)).getMessage();
    assertTrue(message.contains("c.yaml") && message.contains("already declared"), message);
  }

  @Test
  void errorsNameFileLineAndField() {
    String unknown = error("""
        domain: d
        descriptors:
          - key: k
            rate_limit: {unit: second, requests_per_unit: 1, reqests: 2}
        """);
    assertTrue(unknown.startsWith("test.yaml:4: descriptors[0].rate_limit.reqests: unknown field"), unknown);

    String unit = error("""
        domain: d
        descriptors:
          - key: k
            rate_limit:
              unit: fortnight
              requests_per_unit: 1
        """);
    assertTrue(unit.startsWith("test.yaml:5: descriptors[0].rate_limit.unit: unknown unit 'fortnight'"), unit);

    assertTrue(error("descriptors: []\n").contains("domain: is required"));
    assertTrue(error("domain: d\ndescriptors:\n  - value: x\n").contains("descriptors[0].key: is required"));
    assertTrue(error("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second}\n")
        .contains("requests_per_unit: is required"));
    assertTrue(error("domain: d\ndescriptors:\n  - key: k\n    rate_limit: {unit: second, requests_per_unit: -1}\n")
        .contains("must be between 0 and 4294967295"));
    assertTrue(error("domain: [d\n").contains("not valid YAML"));
    assertTrue(error("""
        domain: d
        descriptors:
          - key: k
            rate_limit: {unit: second, requests_per_unit: 1, precision: 7}
        """).contains("precision: must divide the window of 1000 ms"));
    assertTrue(error("""
        domain: d
        descriptors:
          - key: k
            rate_limit: {unit: second, requests_per_unit: 1}
          - key: k
            rate_limit: {unit: second, requests_per_unit: 2}
        """).contains("duplicate entry"));
    assertTrue(error("""
        domain: d
        descriptors:
          - key: k
            rate_limit: {unlimited: true, requests_per_unit: 5}
        """).contains("must not be set on an unlimited rule"));
    assertTrue(error("""
        domain: d
        descriptors:
          - key: k
            rate_limit: {unit: second, requests_per_unit: 1, replaces: [{name: ghost}]}
        """).contains("replaces refers to no rule named 'ghost'"));
    assertTrue(error("""
        domain: d
        descriptors:
          - key: k
            shadow_mode: maybe
        """).contains("shadow_mode: must be true or false"));
  }

  @Test
  void compatibilityFieldsAreAccepted() throws Exception {
    PolicyIndex index = parse("""
        domain: d
        descriptors:
          - key: k
            value: "a*"
            share_threshold: true
            detailed_metric: true
            value_to_metric: true
            quota_mode: false
            metadata: {owner: team-a}
            rate_limit: {unit: hour, requests_per_unit: 5, name: n}
        """);
    DescriptorNode node = PolicyIndex.match(index.domain("d"), descriptor("k", "abc"));
    assertEquals("a*", node.counterValue("abc"), "shared wildcard: one counter for every matching value");
  }
}
