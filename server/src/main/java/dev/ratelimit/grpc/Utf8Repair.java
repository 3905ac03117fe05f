package dev.ratelimit.grpc;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Rewrites a serialized message so that every {@code string} field holds valid UTF-8, each malformed sequence
 * replaced by U+FFFD, as {@code new String(bytes, UTF_8)} decodes it. Envoy copies request header bytes into
 * descriptor values, and HTTP allows bytes that are not UTF-8 there; protobuf-java refuses such a proto3 message
 * outright, which would turn a client's header into an error for the whole request (and Envoy lets errors through).
 * Values that differ only in their malformed bytes then share one counter: stricter, never looser.
 */
final class Utf8Repair {
  private static final int MAX_DEPTH = 32;

  private Utf8Repair() {
  }

  /** The message's bytes with its string fields (at any depth) made valid UTF-8; unknown fields are kept as they are. */
  static byte[] repair(byte[] message, Descriptor type) throws IOException {
    return repair(CodedInputStream.newInstance(message), type, 0);
  }

  private static byte[] repair(CodedInputStream in, Descriptor type, int depth) throws IOException {
    if (depth > MAX_DEPTH) {
      throw new IOException("message nested deeper than " + MAX_DEPTH);
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
      FieldDescriptor field = type.findFieldByNumber(WireFormat.getTagFieldNumber(tag));
      boolean delimited = WireFormat.getTagWireType(tag) == WireFormat.WIRETYPE_LENGTH_DELIMITED;
      if (field != null && delimited && field.getType() == FieldDescriptor.Type.STRING) {
        String decoded = new String(in.readByteArray(), StandardCharsets.UTF_8);
        out.writeBytes(field.getNumber(), ByteString.copyFromUtf8(decoded));
      } else if (field != null && delimited && field.getType() == FieldDescriptor.Type.MESSAGE) {
        byte[] nested = repair(CodedInputStream.newInstance(in.readByteArray()), field.getMessageType(), depth + 1);
        out.writeByteArray(field.getNumber(), nested);
      } else {
        in.skipField(tag, out);
      }
    }
    out.flush();
    return bytes.toByteArray();
  }
}
