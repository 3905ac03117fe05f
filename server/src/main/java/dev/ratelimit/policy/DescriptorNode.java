package dev.ratelimit.policy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code descriptors} entry of a policy: a key, an optional value or value pattern, an optional rule, and the
 * nested entries below it. Immutable once its domain is built.
 */
public final class DescriptorNode {
  private final String key;
  private final String value;
  private final ValuePattern pattern;
  private final boolean shareThreshold;
  private final RateLimitRule rule;
  private final DescriptorNode parent;
  private final int depth;
  private final Map<String, Children> childrenByKey = new HashMap<>();

  DescriptorNode(
      String key, String value, boolean shareThreshold, RateLimitRule rule, DescriptorNode parent) {
    this.key = key;
    this.value = value;
    this.pattern = value != null && value.indexOf('*') >= 0 ? new ValuePattern(value) : null;
    this.shareThreshold = shareThreshold;
    this.rule = rule;
    this.parent = parent;
    this.depth = parent == null ? -1 : parent.depth + 1;
  }

  static DescriptorNode root() {
    return new DescriptorNode("", null, false, null, null);
  }

  /** The descriptor key this entry matches. */
  public String key() {
    return key;
  }

  /** The configured value (may contain {@code *}), or null when any value matches with its own counter. */
  public String value() {
    return value;
  }

  /** The rule of this entry, or null when it only groups nested entries. */
  public RateLimitRule rule() {
    return rule;
  }

  /** The entry one level up, null for the domain's root. */
  public DescriptorNode parent() {
    return parent;
  }

  /** Position of this entry in a descriptor (0 for a top-level entry). */
  public int depth() {
    return depth;
  }

  /**
   * The value that identifies the counter at this level: the pattern itself for a wildcard entry with
   * {@code share_threshold}, otherwise the request's value.
   */
  public String counterValue(String requestValue) {
    return shareThreshold ? value : requestValue;
  }

  /** Adds a child; returns false when a sibling with the same key and value exists. */
  boolean addChild(DescriptorNode child) {
    Children children = childrenByKey.computeIfAbsent(child.key, k -> new Children());
    if (child.value == null) {
      if (children.anyValue != null) {
        return false;
      }
      children.anyValue = child;
    } else if (child.pattern != null) {
      for (DescriptorNode existing : children.wildcards) {
        if (existing.value.equals(child.value)) {
          return false;
        }
      }
      children.wildcards.add(child);
    } else if (children.exact.putIfAbsent(child.value, child) != null) {
      return false;
    }
    return true;
  }

  /**
   * The child matching one descriptor entry: an exact value first, then wildcard values in configuration order, then
   * the entry without a value. Null when none matches. Allocates nothing.
   */
  public DescriptorNode child(String entryKey, String entryValue) {
    Children children = childrenByKey.get(entryKey);
    if (children == null) {
      return null;
    }
    DescriptorNode exact = children.exact.get(entryValue);
    if (exact != null) {
      return exact;
    }
    for (int i = 0, n = children.wildcards.size(); i < n; i++) {
      DescriptorNode wildcard = children.wildcards.get(i);
      if (wildcard.pattern.matches(entryValue)) {
        return wildcard;
      }
    }
    return children.anyValue;
  }

  private static final class Children {
    final Map<String, DescriptorNode> exact = new HashMap<>();
    final List<DescriptorNode> wildcards = new ArrayList<>();
    DescriptorNode anyValue;
  }
}
