package dev.ratelimit.policy;

/** A descriptor value with {@code *} wildcards, each matching zero or more characters. */
final class ValuePattern {
  private final String[] parts;

  ValuePattern(String pattern) {
    this.parts = pattern.split("\\*", -1);
  }

  /** Glob match without allocation: literal parts must appear in order, anchored at both ends. */
  boolean matches(String value) {
    String first = parts[0];
    String last = parts[parts.length - 1];
    if (value.length() < first.length() + last.length() || !value.startsWith(first) || !value.endsWith(last)) {
      return false;
    }
    int from = first.length();
    int end = value.length() - last.length();
    for (int i = 1; i < parts.length - 1; i++) {
      int at = value.indexOf(parts[i], from);
      if (at < 0 || at + parts[i].length() > end) {
        return false;
      }
      from = at + parts[i].length();
    }
    return true;
  }
}
