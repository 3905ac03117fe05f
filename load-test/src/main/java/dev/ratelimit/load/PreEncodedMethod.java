package dev.ratelimit.load;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * {@code ShouldRateLimit} with the request side taking already-serialized {@code RateLimitRequest} bytes: the same
 * method name and wire format as {@link RateLimitServiceGrpc#getShouldRateLimitMethod()}, minus the per-call
 * serialization. Responses are parsed as regular {@link RateLimitResponse} messages.
 */
public final class PreEncodedMethod {
    private PreEncodedMethod() {
    }

    /** The method descriptor. */
    public static final MethodDescriptor<byte[], RateLimitResponse> SHOULD_RATE_LIMIT =
            RateLimitServiceGrpc.getShouldRateLimitMethod().toBuilder(new BytesMarshaller(),
                    ProtoUtils.marshaller(RateLimitResponse.getDefaultInstance())).build();

    /** Streams a byte array as-is (a {@link ByteArrayInputStream} is a known-length stream for gRPC's framer). */
    private static final class BytesMarshaller implements MethodDescriptor.Marshaller<byte[]> {
        @Override
        public InputStream stream(byte[] value) {
            return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
            try {
                return stream.readAllBytes();
            } catch (IOException e) {
                throw new IllegalStateException("cannot read request bytes", e);
            }
        }
    }
}
