package dev.ratelimit.policy;

import static dev.ratelimit.testing.TestServer.descriptor;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How a descriptor finds its rule in the policy tree (PolicyIndex, DescriptorNode), and its counter's values. */
class DescriptorMatchingTest {
  private static final String POLICY = """
      domain: d
      descriptors:
        - key: k
          value: "a*"
          rate_limit: {name: first_wildcard, unit: second, requests_per_unit: 1}
        - key: k
          value: "ab*"
          rate_limit: {name: second_wildcard, unit: second, requests_per_unit: 2}
        - key: k
          value: abc
          rate_limit: {name: exact, unit: second, requests_per_unit: 3}
        - key: k
          rate_limit: {name: any_value, unit: second, requests_per_unit: 4}
        - key: group
          value: g
          descriptors:
            - key: member
              value: "team-*"
              share_threshold: true
              rate_limit: {name: shared_team, unit: second, requests_per_unit: 5}
            - key: user
              rate_limit: {name: per_user, unit: second, requests_per_unit: 6}
      """;

  private static DomainPolicy domain() throws ConfigException {
    return new PolicyLoader().parse(Map.of("d.yaml", POLICY)).domain("d");
  }

  private static String ruleOf(RateLimitDescriptor descriptor) throws ConfigException {
    DescriptorNode node = PolicyIndex.match(domain(), descriptor);
    return node == null ? null : node.rule().name();
  }

  @Test
  void anExactValueWinsThenWildcardsInConfigurationOrderThenAnyValue() throws Exception {
    assertEquals("exact", ruleOf(descriptor("k", "abc")));
    assertEquals("first_wildcard", ruleOf(descriptor("k", "abd")), "both wildcards match: the first configured");
    assertEquals("first_wildcard", ruleOf(descriptor("k", "a")));
    assertEquals("any_value", ruleOf(descriptor("k", "xyz")));
    assertEquals("any_value", ruleOf(descriptor("k", "")));
  }

  @Test
  void onlyTheEntryReachedByTheLastPairDecides() throws Exception {
    assertNull(ruleOf(descriptor("group", "g")), "an entry that only groups others has no rule");
    assertEquals("per_user", ruleOf(descriptor("group", "g", "user", "u1")));
    assertNull(ruleOf(descriptor("group", "h", "user", "u1")), "a value the tree does not have");
    assertNull(ruleOf(descriptor("group", "g", "user", "u1", "extra", "x")), "deeper than the tree");
    assertNull(ruleOf(RateLimitDescriptor.getDefaultInstance()), "no entries");
  }

  @Test
  void theMatchedEntryKnowsItsPlaceAndItsCounterValue() throws Exception {
    DomainPolicy d = domain();
    DescriptorNode user = PolicyIndex.match(d, descriptor("group", "g", "user", "u1"));
    assertEquals(1, user.depth());
    assertEquals("user", user.key());
    assertNull(user.value());
    assertEquals("u1", user.counterValue("u1"), "one counter per user");
    DescriptorNode group = user.parent();
    assertEquals(0, group.depth());
    assertEquals("g", group.value());
    assertEquals(-1, group.parent().depth(), "the domain's root");
    assertNull(group.parent().parent());
    DescriptorNode team = PolicyIndex.match(d, descriptor("group", "g", "member", "team-red"));
    assertEquals("team-*", team.counterValue("team-red"), "share_threshold: one counter for every match");
    assertSame(team, PolicyIndex.match(d, descriptor("group", "g", "member", "team-blue")));
  }

  @Test
  void aSiblingWithTheSameKeyAndValueIsRefused() {
    for (String value : new String[] {"value: x", "value: \"x*\"", ""}) {
      String twice = """
          domain: d
          descriptors:
            - key: k
              %1$s
              rate_limit: {unit: second, requests_per_unit: 1}
            - key: k
              %1$s
              rate_limit: {unit: second, requests_per_unit: 2}
          """.formatted(value);
      ConfigException e = assertThrows(ConfigException.class,
          () -> new PolicyLoader().parse(Map.of("d.yaml", twice)), value);
      assertTrue(e.getMessage().contains("d.yaml"), e.getMessage());
    }
  }

  @Test
  void theIndexListsItsDomainsAndKnowsNoOther() throws Exception {
    PolicyIndex index = new PolicyLoader().parse(Map.of("d.yaml", POLICY));
    assertEquals(1, index.domains().size());
    assertEquals("d", index.domains().iterator().next().domain());
    assertNull(index.domain("other"));
  }
}
