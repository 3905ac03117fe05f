package dev.ratelimit.load;

import com.google.protobuf.util.JsonFormat;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code call}: one {@code ShouldRateLimit}, printed as JSON: the first request of a new user who has only the JDK
 * (with grpcurl, {@code grpcurl -plaintext -d '{...}' 127.0.0.1:8081 ...ShouldRateLimit} does the same).
 */
@Command(name = "call", mixinStandardHelpOptions = true,
        description = "Send one ShouldRateLimit and print the response as JSON.")
public final class CallCommand implements Callable<Integer> {
    @Option(names = "--target", description = "host:port, loopback only unless --allow-remote (default: ${DEFAULT-VALUE}).")
    String target = "127.0.0.1:8081";

    @Option(names = "--allow-remote", description = "Allow a non-loopback target (only hosts you own).")
    boolean allowRemote;

    @Option(names = "--domain", description = "Rate-limit domain (default: ${DEFAULT-VALUE}).")
    String domain = "api";

    @Option(names = {"-d", "--descriptor"}, required = true,
            description = "A descriptor as key=value,key=value (repeat for several), e.g. tier=free,org=acme.")
    List<String> descriptors;

    @Option(names = "--hits", description = "hits_addend of the request (default: ${DEFAULT-VALUE}: one hit).")
    int hits;

    @Override
    public Integer call() throws Exception {
        RateLimitRequest.Builder request = RateLimitRequest.newBuilder().setDomain(domain).setHitsAddend(hits);
        for (String d : descriptors) {
            request.addDescriptors(descriptor(d));
        }
        InetSocketAddress address = LoopbackGuard.resolve(target, allowRemote);
        ManagedChannel channel = NettyChannelBuilder.forAddress(address).usePlaintext().build();
        try {
            RateLimitResponse response = RateLimitServiceGrpc.newBlockingStub(channel)
                    .withDeadlineAfter(5, TimeUnit.SECONDS).shouldRateLimit(request.build());
            System.out.println(JsonFormat.printer().print(response));
            return 0;
        } catch (StatusRuntimeException e) {
            System.err.println("error: " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
            return 2;
        } finally {
            channel.shutdownNow();
        }
    }

    /** {@code key=value,key=value} as a descriptor; a value may be empty, a key may not. */
    static RateLimitDescriptor descriptor(String text) {
        RateLimitDescriptor.Builder d = RateLimitDescriptor.newBuilder();
        for (String entry : text.split(",")) {
            int eq = entry.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("descriptor entry '" + entry + "' is not key=value");
            }
            d.addEntries(RateLimitDescriptor.Entry.newBuilder()
                    .setKey(entry.substring(0, eq)).setValue(entry.substring(eq + 1)));
        }
        return d.build();
    }
}
