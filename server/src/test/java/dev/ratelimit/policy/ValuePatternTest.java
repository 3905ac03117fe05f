package dev.ratelimit.policy;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code *} in a descriptor value: zero or more characters, literal parts in order, anchored at both ends. */
class ValuePatternTest {
  private static boolean matches(String pattern, String value) {
    return new ValuePattern(pattern).matches(value);
  }

  @Test
  void aStarMatchesZeroOrMoreCharacters() {
    assertTrue(matches("*", ""));
    assertTrue(matches("*", "anything"));
    assertTrue(matches("a*b", "ab"), "zero characters: prefix and suffix exactly fill the value");
    assertTrue(matches("a*b", "a-b"));
    assertTrue(matches("a*b*c", "abc"), "every part back to back");
    assertTrue(matches("a*b*c", "aXbYc"));
    assertTrue(matches("*.example.com", "api.example.com"));
    assertTrue(matches("user-*", "user-"));
  }

  @Test
  void partsAreAnchoredInOrderAndNeverOverlap() {
    assertFalse(matches("a*b", "a"), "shorter than prefix and suffix");
    assertFalse(matches("ab*ba", "aba"), "prefix and suffix may not share a character");
    assertFalse(matches("a*bc*c", "abc"), "a middle part may not run into the suffix");
    assertFalse(matches("a*b*c", "acb"), "parts in order");
    assertFalse(matches("a*b", "xab"), "anchored at the start");
    assertFalse(matches("a*b", "abx"), "anchored at the end");
    assertFalse(matches("a*x*b", "ab"), "a middle part must appear");
    assertFalse(matches("*x", ""));
  }
}
