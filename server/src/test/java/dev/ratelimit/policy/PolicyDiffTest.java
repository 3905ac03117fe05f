package dev.ratelimit.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PolicyDiffTest {
  private static PolicyIndex parse(String descriptors) throws ConfigException {
    return new PolicyLoader().parse(Map.of("p.yaml", "domain: d\ndescriptors:\n" + descriptors));
  }

  private static final String A = "  - key: a\n    rate_limit: {unit: minute, requests_per_unit: %d}\n";
  private static final String B = "  - key: b\n    rate_limit: {unit: %s, requests_per_unit: 10}\n";
  private static final String C = "  - key: c\n    rate_limit: {unit: second, requests_per_unit: 10}\n";

  @Test
  void reportsAddedRemovedAndChangedRulesAndWhetherCountersCarryOver() throws Exception {
    PolicyIndex before = parse(A.formatted(100) + B.formatted("minute"));
    PolicyIndex after = parse(A.formatted(50) + B.formatted("hour") + C);
    PolicyDiff diff = PolicyDiff.between(before, after);
    assertEquals(List.of("d/c"), diff.added());
    assertEquals(List.of(), diff.removed());
    assertEquals(List.of(
        new PolicyDiff.Change("d/a", List.of("requestsPerUnit: 100 -> 50"), true),
        new PolicyDiff.Change("d/b", List.of("unit: MINUTE -> HOUR", "window: PT1M -> PT1H",
            "limiter: sliding_window(window 60000 ms, 60 slots)"
                + " -> sliding_window(window 3600000 ms, 60 slots)"), false)),
        diff.changed());
    assertEquals(List.of("d/c"), PolicyDiff.between(after, before).removed());
  }

  @Test
  void theSamePolicyParsedTwiceHasNoChange() throws Exception {
    PolicyDiff diff = PolicyDiff.between(parse(A.formatted(100) + C), parse(A.formatted(100) + C));
    assertTrue(diff.isEmpty());
    assertEquals("no rule changed", diff.summary());
  }

  @Test
  void aLimitCrossingACounterWidthKeepsTheCounters() throws Exception {
    PolicyDiff diff = PolicyDiff.between(parse(A.formatted(100)), parse(A.formatted(1000)));
    assertEquals(true, diff.changed().get(0).countersKept(),
        "1-byte slot counters widen to 2 bytes in place: a counter is identified by what it counts");
  }
}
