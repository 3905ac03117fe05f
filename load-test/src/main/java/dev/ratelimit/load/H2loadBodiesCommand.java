package dev.ratelimit.load;

import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code h2load-bodies}: writes request bodies for nghttp2's {@code h2load}, which sends gRPC unary calls as plain
 * HTTP/2 POSTs: each file is one gRPC frame (a 0 byte, a 4-byte big-endian length, the serialized
 * {@code RateLimitRequest}) following the traffic mix, so several h2load clients, one per file, spread their keys.
 */
@Command(name = "h2load-bodies", mixinStandardHelpOptions = true,
        description = "Write gRPC-framed RateLimitRequest bodies (body-0.bin, body-1.bin, ...) for h2load -d.")
public final class H2loadBodiesCommand implements Callable<Integer> {
    @Option(names = "--count", description = "Bodies to write (default: ${DEFAULT-VALUE}).")
    int count = 4;

    @Option(names = "--out", required = true, description = "Output directory.")
    Path out;

    @Mixin
    MixOptions mixOptions;

    @Override
    public Integer call() throws IOException {
        if (count <= 0) {
            throw new IllegalArgumentException("--count must be > 0, got " + count);
        }
        Files.createDirectories(out);
        RequestGenerator generator = new RequestGenerator(mixOptions.toMix());
        for (int i = 0; i < count; i++) {
            Files.write(out.resolve("body-" + i + ".bin"), frame(generator.next()));
        }
        System.err.printf("wrote %d bodies to %s%n", count, out);
        return 0;
    }

    /** One uncompressed gRPC length-prefixed message. */
    static byte[] frame(RateLimitRequest request) {
        byte[] message = request.toByteArray();
        return ByteBuffer.allocate(5 + message.length).put((byte) 0).putInt(message.length).put(message).array();
    }
}
