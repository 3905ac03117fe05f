package dev.ratelimit.deploy;

import com.google.protobuf.Any;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import com.google.protobuf.DynamicMessage;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.envoyproxy.pgv.validate.Validate;
import io.envoyproxy.pgv.validate.Validate.FieldRules;
import java.util.ArrayList;
import java.util.List;

/**
 * Envoy's own constraints on its config (the protoc-gen-validate {@code validate.rules} annotations
 * in the proto descriptors, which Envoy enforces when it loads a config and a JSON parser does
 * not): required oneofs and messages, string lengths, repeated sizes, number and duration bounds.
 * Rule kinds outside that subset are not checked. {@code Any} payloads are checked too.
 */
final class EnvoyValidation {
  private EnvoyValidation() {}

  /** Every violation in the message tree, as {@code path: rule}; empty when the config is valid. */
  static List<String> violations(Message message) {
    List<String> out = new ArrayList<>();
    check(message, message.getDescriptorForType().getName(), out);
    return out;
  }

  private static void check(Message message, String path, List<String> out) {
    Descriptor type = message.getDescriptorForType();
    if (type.getOptions().getExtension(Validate.disabled) || type.getOptions().getExtension(Validate.ignored)) {
      return;
    }
    if (type.getFullName().equals(Any.getDescriptor().getFullName())) {
      checkAny(message, path, out);
      return;
    }
    for (OneofDescriptor oneof : type.getRealOneofs()) {
      if (oneof.getOptions().getExtension(Validate.required) && !message.hasOneof(oneof)) {
        out.add(path + ": one of " + oneof.getName() + " is required");
      }
    }
    for (FieldDescriptor field : type.getFields()) {
      String at = path + "." + field.getName();
      FieldRules rules = field.getOptions().getExtension(Validate.rules);
      if (field.isRepeated()) {
        checkRepeated(message, field, rules, at, out);
        continue;
      }
      boolean set = field.hasPresence() ? message.hasField(field) : !isDefault(message, field);
      if (field.getRealContainingOneof() != null && !set) {
        continue; // rules on a oneof member apply only when that member is the one chosen
      }
      boolean required = (rules.hasMessage() && rules.getMessage().getRequired())
          || (rules.hasDuration() && rules.getDuration().getRequired())
          || (rules.hasAny() && rules.getAny().getRequired());
      if (required && !set) {
        out.add(at + ": required");
      }
      // Scalars without presence are checked even when empty (min_len 1 rejects ""), unless ignore_empty.
      if (set || (!field.hasPresence() && !ignoreEmpty(rules))) {
        checkValue(message.getField(field), rules, at, out);
      }
      if (field.getJavaType() == FieldDescriptor.JavaType.MESSAGE && set) {
        check((Message) message.getField(field), at, out);
      }
    }
  }

  private static void checkRepeated(Message message, FieldDescriptor field, FieldRules rules, String at,
      List<String> out) {
    int n = message.getRepeatedFieldCount(field);
    if (rules.hasRepeated()) {
      Validate.RepeatedRules r = rules.getRepeated();
      if (r.hasMinItems() && n < r.getMinItems()) {
        out.add(at + ": at least " + r.getMinItems() + " item(s) required");
      }
      if (r.hasMaxItems() && n > r.getMaxItems()) {
        out.add(at + ": at most " + r.getMaxItems() + " item(s) allowed");
      }
    }
    for (int i = 0; i < n; i++) {
      Object item = message.getRepeatedField(field, i);
      if (rules.hasRepeated() && rules.getRepeated().hasItems()) {
        checkValue(item, rules.getRepeated().getItems(), at + "[" + i + "]", out);
      }
      if (field.isMapField()) {
        Message entry = (Message) item;
        Descriptor entryType = entry.getDescriptorForType();
        if (entry.getField(entryType.findFieldByName("value")) instanceof Message value) {
          check(value, at + "[" + entry.getField(entryType.findFieldByName("key")) + "]", out);
        }
      } else if (item instanceof Message m) {
        check(m, at + "[" + i + "]", out);
      }
    }
  }

  private static void checkValue(Object value, FieldRules rules, String at, List<String> out) {
    if (value instanceof Message m && m.getDescriptorForType().getFullName().startsWith("google.protobuf.")
        && m.getDescriptorForType().findFieldByName("value") != null && !rules.hasDuration()) {
      value = m.getField(m.getDescriptorForType().findFieldByName("value")); // wrapper: rules apply to the value
    }
    if (rules.hasString() && value instanceof String s) {
      Validate.StringRules r = rules.getString();
      int len = s.codePointCount(0, s.length());
      if (r.hasMinLen() && len < r.getMinLen()) {
        out.add(at + ": at least " + r.getMinLen() + " character(s)");
      }
      if (r.hasMaxLen() && len > r.getMaxLen()) {
        out.add(at + ": at most " + r.getMaxLen() + " characters");
      }
      if (r.hasMinBytes() && s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length < r.getMinBytes()) {
        out.add(at + ": at least " + r.getMinBytes() + " byte(s)");
      }
      if (r.getInCount() > 0 && !r.getInList().contains(s)) {
        out.add(at + ": must be one of " + r.getInList());
      }
    }
    if (rules.hasUint32() && value instanceof Integer v) {
      checkRange(Integer.toUnsignedLong(v), rules.getUint32().hasGt() ? (long) rules.getUint32().getGt() : null,
          rules.getUint32().hasGte() ? (long) rules.getUint32().getGte() : null,
          rules.getUint32().hasLt() ? (long) rules.getUint32().getLt() : null,
          rules.getUint32().hasLte() ? (long) rules.getUint32().getLte() : null, at, out);
    }
    if (rules.hasDuration() && value instanceof Message d) {
      Validate.DurationRules r = rules.getDuration();
      checkRange(duration(d), r.hasGt() ? duration(r.getGt()) : null, r.hasGte() ? duration(r.getGte()) : null,
          r.hasLt() ? duration(r.getLt()) : null, r.hasLte() ? duration(r.getLte()) : null, at, out);
    }
  }

  private static void checkRange(long v, Long gt, Long gte, Long lt, Long lte, String at, List<String> out) {
    if ((gt != null && v <= gt) || (gte != null && v < gte) || (lt != null && v >= lt) || (lte != null && v > lte)) {
      out.add(at + ": " + v + " out of range (gt " + gt + ", gte " + gte + ", lt " + lt + ", lte " + lte + ")");
    }
  }

  /** A Duration message in nanoseconds. */
  private static long duration(Message d) {
    Descriptor t = d.getDescriptorForType();
    long seconds = (Long) d.getField(t.findFieldByName("seconds"));
    int nanos = (Integer) d.getField(t.findFieldByName("nanos"));
    return seconds * 1_000_000_000L + nanos;
  }

  private static void checkAny(Message any, String path, List<String> out) {
    Descriptor t = any.getDescriptorForType();
    String url = (String) any.getField(t.findFieldByName("type_url"));
    Descriptor payload = EnvoyJson.TYPES.find(url.substring(url.lastIndexOf('/') + 1));
    if (payload == null) {
      out.add(path + ": type " + url + " is not in EnvoyJson.TYPES");
      return;
    }
    try {
      check(DynamicMessage.parseFrom(payload, (com.google.protobuf.ByteString) any.getField(t.findFieldByName("value"))),
          path + "<" + payload.getName() + ">", out);
    } catch (InvalidProtocolBufferException e) {
      out.add(path + ": unreadable " + url);
    }
  }

  private static boolean isDefault(Message message, FieldDescriptor field) {
    return message.getField(field).equals(field.getDefaultValue());
  }

  private static boolean ignoreEmpty(FieldRules rules) {
    return rules.hasString() && rules.getString().getIgnoreEmpty();
  }
}
