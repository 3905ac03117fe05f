package dev.ratelimit.grpc;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.ServerServiceDefinition;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Parses requests leniently where Envoy can send what protobuf-java refuses, and answers {@code INVALID_ARGUMENT} to
 * bytes that are no message of the method's type at all, instead of gRPC's default {@code INTERNAL}. A {@code string}
 * field holding bytes that are not UTF-8 (Envoy copies request header bytes into descriptor values) is repaired
 * ({@link Utf8Repair}) rather than refused: a refusal would be an error for the whole request, which Envoy lets through.
 */
public final class MalformedRequestGuard {
  static final String DESCRIPTION =
      "malformed request: not a valid protobuf message of the method's type, or a string field is not UTF-8";

  private MalformedRequestGuard() {
  }

  /** The same service with every protobuf method guarded; {@code onMalformed} runs once per refused request. */
  public static ServerServiceDefinition guard(ServerServiceDefinition service, Runnable onMalformed) {
    ServiceDescriptor original = service.getServiceDescriptor();
    List<ServerMethodDefinition<?, ?>> methods = new ArrayList<>();
    // Same service name and schema (reflection keeps working), methods with the lenient request marshaller.
    ServiceDescriptor.Builder descriptor = ServiceDescriptor.newBuilder(original.getName())
        .setSchemaDescriptor(original.getSchemaDescriptor());
    for (ServerMethodDefinition<?, ?> method : service.getMethods()) {
      ServerMethodDefinition<?, ?> guarded = guardMethod(method, onMalformed);
      methods.add(guarded);
      descriptor.addMethod(guarded.getMethodDescriptor());
    }
    ServerServiceDefinition.Builder guarded = ServerServiceDefinition.builder(descriptor.build());
    methods.forEach(guarded::addMethod);
    return guarded.build();
  }

  /** The whole stream, in one array of the exact size when the stream knows its length (gRPC's do). */
  static byte[] readAll(InputStream stream) throws IOException {
    int known = stream.available();
    if (known <= 0) {
      return stream.readAllBytes();
    }
    byte[] bytes = stream.readNBytes(known);
    int next = stream.read();
    if (next < 0) {
      return bytes;
    }
    byte[] rest = stream.readAllBytes();
    byte[] all = new byte[bytes.length + 1 + rest.length];
    System.arraycopy(bytes, 0, all, 0, bytes.length);
    all[bytes.length] = (byte) next;
    System.arraycopy(rest, 0, all, bytes.length + 1, rest.length);
    return all;
  }

  private static <Q, R> ServerMethodDefinition<Q, R> guardMethod(ServerMethodDefinition<Q, R> definition,
      Runnable onMalformed) {
    MethodDescriptor<Q, R> method = definition.getMethodDescriptor();
    if (!(method.getRequestMarshaller() instanceof MethodDescriptor.PrototypeMarshaller<Q> proto)
        || !(proto.getMessagePrototype() instanceof Message prototype)) {
      return definition;
    }
    // A fresh instance, never returned by a successful parse: identifies a request that did not parse.
    @SuppressWarnings("unchecked")
    Q malformed = (Q) prototype.toBuilder().build();
    MethodDescriptor.Marshaller<Q> lenient = new MethodDescriptor.Marshaller<>() {
      @Override
      public InputStream stream(Q value) {
        return proto.stream(value);
      }

      @Override
      public Q parse(InputStream stream) {
        byte[] bytes;
        try {
          bytes = readAll(stream);
        } catch (IOException e) {
          return malformed;
        }
        // Straight from the array: cheaper than the stream gRPC's marshaller would wrap around a copy.
        try {
          return parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
          // Most often a string field that is not UTF-8 (a header's bytes): repaired, the request is decided.
          try {
            return parseFrom(Utf8Repair.repair(bytes, prototype.getDescriptorForType()));
          } catch (IOException stillMalformed) {
            return malformed;
          }
        }
      }

      @SuppressWarnings("unchecked")
      private Q parseFrom(byte[] bytes) throws InvalidProtocolBufferException {
        return (Q) prototype.getParserForType().parseFrom(bytes);
      }
    };
    MethodDescriptor<Q, R> guardedMethod = method.toBuilder(lenient, method.getResponseMarshaller()).build();
    ServerCallHandler<Q, R> handler = definition.getServerCallHandler();
    ServerCallHandler<Q, R> guardedHandler = (call, headers) ->
        new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(handler.startCall(call, headers)) {
          private boolean refused;

          @Override
          public void onMessage(Q message) {
            if (message == malformed) {
              refused = true;
              onMalformed.run();
              call.close(Status.INVALID_ARGUMENT.withDescription(DESCRIPTION), new Metadata());
              return;
            }
            if (!refused) {
              super.onMessage(message);
            }
          }

          @Override
          public void onHalfClose() {
            if (!refused) {
              super.onHalfClose();
            }
          }
        };
    return ServerMethodDefinition.create(guardedMethod, guardedHandler);
  }
}
