package dev.ratelimit.policy;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.RecordComponent;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What a reload changes, rule by rule (rules are matched by {@link RateLimitRule#id()}). Immutable.
 *
 * @param added ids of rules only the new policy has
 * @param removed ids of rules only the old policy has
 * @param changed rules both have with different parameters
 */
public record PolicyDiff(List<String> added, List<String> removed, List<Change> changed) {

  /**
   * One rule whose parameters changed.
   *
   * @param ruleId the rule's id
   * @param fields each changed parameter as {@code name: old -> new}
   * @param countersKept the rule keeps its counters (same algorithm geometry, see
   *     {@link RateLimitRule#sharesCountersWith}); otherwise it starts counting from zero
   */
  public record Change(String ruleId, List<String> fields, boolean countersKept) {
    public Change {
      fields = List.copyOf(fields);
    }

    @Override
    public String toString() {
      return ruleId + " (" + String.join(", ", fields) + "; counters " + (countersKept ? "kept" : "reset") + ")";
    }
  }

  public PolicyDiff {
    added = List.copyOf(added);
    removed = List.copyOf(removed);
    changed = List.copyOf(changed);
  }

  /** Compares every rule of {@code before} with the rule of the same id in {@code after}. */
  public static PolicyDiff between(PolicyIndex before, PolicyIndex after) {
    Map<String, RateLimitRule> old = rules(before);
    Map<String, RateLimitRule> next = rules(after);
    List<String> added = new ArrayList<>();
    List<String> removed = new ArrayList<>();
    List<Change> changed = new ArrayList<>();
    for (Map.Entry<String, RateLimitRule> e : next.entrySet()) {
      RateLimitRule was = old.get(e.getKey());
      if (was == null) {
        added.add(e.getKey());
      } else if (!was.equals(e.getValue())) {
        changed.add(new Change(e.getKey(), changedFields(was, e.getValue()), e.getValue().sharesCountersWith(was)));
      }
    }
    for (String id : old.keySet()) {
      if (!next.containsKey(id)) {
        removed.add(id);
      }
    }
    return new PolicyDiff(added, removed, changed);
  }

  /** True when no rule was added, removed or changed. */
  public boolean isEmpty() {
    return added.isEmpty() && removed.isEmpty() && changed.isEmpty();
  }

  /** One line for logs and the reload answer. */
  public String summary() {
    if (isEmpty()) {
      return "no rule changed";
    }
    List<String> parts = new ArrayList<>();
    if (!added.isEmpty()) {
      parts.add("added " + added);
    }
    if (!removed.isEmpty()) {
      parts.add("removed " + removed);
    }
    if (!changed.isEmpty()) {
      parts.add("changed " + changed);
    }
    return String.join("; ", parts);
  }

  private static Map<String, RateLimitRule> rules(PolicyIndex index) {
    Map<String, RateLimitRule> rules = new TreeMap<>();
    for (DomainPolicy domain : index.domains()) {
      rules.putAll(domain.rulesById());
    }
    return rules;
  }

  /** Every component of the rule record that differs, so fields added to the record later are reported too. */
  private static List<String> changedFields(RateLimitRule was, RateLimitRule now) {
    List<String> fields = new ArrayList<>();
    for (RecordComponent component : RateLimitRule.class.getRecordComponents()) {
      Object a = read(component, was);
      Object b = read(component, now);
      if (!Objects.equals(a, b)) {
        fields.add(component.getName() + ": " + a + " -> " + b);
      }
    }
    return fields;
  }

  private static Object read(RecordComponent component, RateLimitRule rule) {
    try {
      return component.getAccessor().invoke(rule);
    } catch (IllegalAccessException | InvocationTargetException e) {
      throw new IllegalStateException("cannot read " + component.getName() + " of a rule", e);
    }
  }
}
