package dev.ratelimit.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.UInt64Value;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitServiceGrpc;
import io.envoyproxy.envoy.type.v3.RateLimitUnit;
import io.grpc.CallOptions;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hostile input (issue 8): 12,000 malformed or extreme requests from a fixed seed, sent as raw bytes over a real
 * loopback server (so invalid UTF-8 and garbage reach the wire), each of which must get a defined answer of its kind
 * (a response, INVALID_ARGUMENT or RESOURCE_EXHAUSTED; never INTERNAL, UNKNOWN or a hang), while a well-behaved
 * client on its own connection keeps its exact counts.
 */
class HostileInputTest {
  private static final long SEED = 8L;
  private static final int HOSTILE = 12_000;
  private static final int IN_FLIGHT = 32;
  private static final int VALID_ORGS = 4;
  private static final int VALID_CALLS_PER_ORG = 150;
  private static final int FREE_LIMIT = 60;

  private static final String POLICY = """
      domain: api
      descriptors:
        - key: tier
          value: free
          descriptors:
            - key: org
              rate_limit: {unit: minute, requests_per_unit: 60}
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 1000}
        - key: path
          value: "/v1/*"
          rate_limit: {unit: second, requests_per_unit: 10}
        - key: a
          descriptors:
            - key: b
              descriptors:
                - key: c
                  descriptors:
                    - key: d
                      rate_limit: {unit: hour, requests_per_unit: 5}
      """;

  /** The kinds of hostile request, each with the answers it may get. */
  enum Kind {
    EMPTY_DOMAIN(Status.Code.INVALID_ARGUMENT),
    NO_DESCRIPTORS(Status.Code.INVALID_ARGUMENT),
    EMPTY_DESCRIPTOR(Status.Code.OK),
    TOO_MANY_DESCRIPTORS(Status.Code.INVALID_ARGUMENT),
    TOO_MANY_ENTRIES(Status.Code.OK),
    KEY_TOO_LONG(Status.Code.OK),
    OVERSIZE_REQUEST(Status.Code.RESOURCE_EXHAUSTED),
    INVALID_UTF8(Status.Code.OK),
    GARBAGE_BYTES(Status.Code.OK, Status.Code.INVALID_ARGUMENT),
    TRUNCATED(Status.Code.OK, Status.Code.INVALID_ARGUMENT),
    EXTREME_HITS(Status.Code.OK),
    UNKNOWN_DOMAIN(Status.Code.OK),
    EMPTY_STRINGS(Status.Code.OK),
    ODD_CHARACTERS(Status.Code.OK),
    DEEP_ENTRIES(Status.Code.OK),
    MANY_DESCRIPTORS(Status.Code.OK),
    BAD_OVERRIDE_UNIT(Status.Code.OK),
    EXTREME_OVERRIDE(Status.Code.OK),
    ODD_ADDRESSES(Status.Code.OK);

    final Set<Status.Code> allowed;

    Kind(Status.Code first, Status.Code... rest) {
      this.allowed = EnumSet.of(first, rest);
    }
  }

  private static final MethodDescriptor<byte[], RateLimitResponse> RAW = RateLimitServiceGrpc.getShouldRateLimitMethod()
      .toBuilder(new RawBytes(), ProtoUtils.marshaller(RateLimitResponse.getDefaultInstance()))
      .build();

  @TempDir
  Path dir;

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void everyHostileRequestGetsADefinedAnswerWhileValidTrafficKeepsExactCounts() throws Exception {
    Path policy = dir.resolve("api.yaml");
    Files.writeString(policy, POLICY);
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        ManualClock.atRoundTime())) {
      AtomicReference<Throwable> validFailure = new AtomicReference<>();
      Thread valid = new Thread(() -> {
        try {
          validTraffic(server);
        } catch (Throwable t) {
          validFailure.set(t);
        }
      }, "valid-client");
      valid.start();

      Map<Kind, Map<Status.Code, Integer>> answers = hostileTraffic(server.server().grpcPort());

      valid.join(TimeUnit.SECONDS.toMillis(60));
      assertTrue(!valid.isAlive(), "the valid client did not finish");
      if (validFailure.get() != null) {
        throw new AssertionError("valid traffic was disturbed", validFailure.get());
      }
      int total = 0;
      for (Map.Entry<Kind, Map<Status.Code, Integer>> e : answers.entrySet()) {
        for (Map.Entry<Status.Code, Integer> answer : e.getValue().entrySet()) {
          total += answer.getValue();
          assertTrue(e.getKey().allowed.contains(answer.getKey()), e.getKey() + " got " + answer.getValue() + " x "
              + answer.getKey() + "; allowed " + e.getKey().allowed + "; all answers " + answers);
        }
      }
      assertEquals(HOSTILE, total);
      assertEquals(Kind.values().length, answers.size(), "every kind was sent: " + answers);
      // Still healthy, and still counting exactly after all that.
      RateLimitResponse after = server.call(TestServer.request("api", TestServer.descriptor("tier", "free", "org",
          "valid-after")));
      assertEquals(Code.OK, after.getOverallCode());
      assertEquals("1", TestServer.headers(after).get("x-ratelimit-current"));
      assertTrue(server.registry().get("ratelimit_invalid_requests").counter().count() > 1000);
    }
  }

  /**
   * A header's bytes that are not UTF-8 (Envoy copies them into descriptor values as they are) are decided, not
   * refused: an error would let the whole request through. Such a value is limited like any other.
   */
  @Test
  void aValueThatIsNotUtf8IsLimitedLikeAnyOther() throws Exception {
    Path policy = dir.resolve("api.yaml");
    Files.writeString(policy, POLICY);
    try (TestServer server = TestServer.start(ServerSettings.loopback().configPath(policy).build(),
        ManualClock.atRoundTime())) {
      byte[] entryOne = message(out -> {
        out.writeByteArray(1, "tier".getBytes(StandardCharsets.UTF_8));
        out.writeByteArray(2, "free".getBytes(StandardCharsets.UTF_8));
      });
      byte[] entryTwo = message(out -> {
        out.writeByteArray(1, "org".getBytes(StandardCharsets.UTF_8));
        out.writeByteArray(2, new byte[] {'a', 'c', 'm', 'e', (byte) 0xFF});
      });
      byte[] descriptor = message(out -> {
        out.writeByteArray(1, entryOne);
        out.writeByteArray(1, entryTwo);
      });
      byte[] request = message(out -> {
        out.writeByteArray(1, "api".getBytes(StandardCharsets.UTF_8));
        out.writeByteArray(2, descriptor);
      });
      for (int i = 1; i <= FREE_LIMIT + 1; i++) {
        RateLimitResponse response = ClientCalls.blockingUnaryCall(server.channel(), RAW,
            CallOptions.DEFAULT.withDeadlineAfter(10, TimeUnit.SECONDS), request);
        assertEquals(i <= FREE_LIMIT ? Code.OK : Code.OVER_LIMIT, response.getOverallCode(), "call " + i);
        assertEquals(Long.toString(Math.min(i, FREE_LIMIT)), TestServer.headers(response).get("x-ratelimit-current"));
      }
      assertEquals(0.0, server.registry().get("ratelimit_invalid_requests").counter().count());
    }
  }

  /** Each org gets exactly 60 OKs (with the exact count in the header) and then only OVER_LIMIT. */
  private static void validTraffic(TestServer server) {
    RateLimitServiceGrpc.RateLimitServiceBlockingStub stub = RateLimitServiceGrpc.newBlockingStub(server.channel());
    for (int i = 1; i <= VALID_CALLS_PER_ORG; i++) {
      for (int org = 0; org < VALID_ORGS; org++) {
        RateLimitResponse response = stub.withDeadlineAfter(10, TimeUnit.SECONDS).shouldRateLimit(
            TestServer.request("api", TestServer.descriptor("tier", "free", "org", "valid-" + org)));
        Code expected = i <= FREE_LIMIT ? Code.OK : Code.OVER_LIMIT;
        assertEquals(expected, response.getOverallCode(), "valid-" + org + " call " + i);
        assertEquals(Long.toString(Math.min(i, FREE_LIMIT)), TestServer.headers(response).get("x-ratelimit-current"),
            "valid-" + org + " call " + i);
      }
    }
  }

  private static Map<Kind, Map<Status.Code, Integer>> hostileTraffic(int port) throws Exception {
    ManagedChannel channel = NettyChannelBuilder.forAddress("127.0.0.1", port).usePlaintext()
        .maxInboundMessageSize(1 << 20).build();
    Map<Kind, Map<Status.Code, Integer>> answers = new ConcurrentHashMap<>();
    try {
      Random random = new Random(SEED);
      Kind[] kinds = Kind.values();
      Semaphore inFlight = new Semaphore(IN_FLIGHT);
      List<com.google.common.util.concurrent.ListenableFuture<RateLimitResponse>> pending = new ArrayList<>();
      for (int i = 0; i < HOSTILE; i++) {
        Kind kind = kinds[random.nextInt(kinds.length)];
        byte[] bytes = hostile(kind, random);
        inFlight.acquire();
        var future = ClientCalls.futureUnaryCall(
            channel.newCall(RAW, CallOptions.DEFAULT.withDeadlineAfter(20, TimeUnit.SECONDS)), bytes);
        future.addListener(() -> {
          inFlight.release();
          Status.Code code;
          try {
            future.get();
            code = Status.Code.OK;
          } catch (ExecutionException e) {
            code = Status.fromThrowable(e.getCause()).getCode();
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            code = Status.Code.CANCELLED;
          }
          answers.computeIfAbsent(kind, k -> new ConcurrentHashMap<>()).merge(code, 1, Integer::sum);
        }, Runnable::run);
        pending.add(future);
      }
      for (var future : pending) {
        try {
          future.get(60, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
          // counted by the listener
        } catch (TimeoutException e) {
          throw new AssertionError("a hostile request got no answer (hang)", e);
        }
      }
      // Listeners run on completion; wait for the last ones to record.
      inFlight.acquire(IN_FLIGHT);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    Map<Kind, Map<Status.Code, Integer>> sorted = new EnumMap<>(Kind.class);
    answers.forEach((k, v) -> sorted.put(k, new EnumMap<>(v)));
    return sorted;
  }

  private static byte[] hostile(Kind kind, Random r) throws IOException {
    return switch (kind) {
      case EMPTY_DOMAIN -> request("", descriptor("tier", "free", "org", name(r))).toByteArray();
      case NO_DESCRIPTORS -> RateLimitRequest.newBuilder().setDomain("api").build().toByteArray();
      case EMPTY_DESCRIPTOR -> RateLimitRequest.newBuilder().setDomain("api")
          .addDescriptors(descriptor("tier", "free", "org", name(r)))
          .addDescriptors(RateLimitDescriptor.getDefaultInstance()).build().toByteArray();
      case TOO_MANY_DESCRIPTORS -> {
        RateLimitRequest.Builder b = RateLimitRequest.newBuilder().setDomain("api");
        int n = 65 + r.nextInt(300);
        for (int i = 0; i < n; i++) {
          b.addDescriptors(descriptor("tier", "free", "org", name(r)));
        }
        yield b.build().toByteArray();
      }
      case TOO_MANY_ENTRIES -> {
        RateLimitDescriptor.Builder d = RateLimitDescriptor.newBuilder();
        int n = 17 + r.nextInt(500);
        for (int i = 0; i < n; i++) {
          d.addEntries(entry("k" + i, "v"));
        }
        yield request("api", d.build()).toByteArray();
      }
      case KEY_TOO_LONG -> request("api", descriptor("tier", "free", "org",
          "h" + "x".repeat(1024 + r.nextInt(40_000)))).toByteArray();
      case OVERSIZE_REQUEST -> request(r.nextBoolean() ? "api" : "elsewhere", descriptor("tier", "free", "org",
          "h" + "y".repeat(64 * 1024 + r.nextInt(200_000)))).toByteArray();
      case INVALID_UTF8 -> invalidUtf8(r);
      case GARBAGE_BYTES -> {
        byte[] garbage = new byte[r.nextInt(2048)];
        r.nextBytes(garbage);
        yield garbage;
      }
      case TRUNCATED -> {
        byte[] whole = request("api", descriptor("tier", "free", "org", name(r)), descriptor("path", "/v1/x"))
            .toByteArray();
        yield java.util.Arrays.copyOf(whole, 1 + r.nextInt(whole.length - 1));
      }
      case EXTREME_HITS -> {
        RateLimitDescriptor d = descriptor("tier", "free", "org", name(r));
        RateLimitRequest.Builder b = RateLimitRequest.newBuilder().setDomain("api");
        switch (r.nextInt(4)) {
          case 0 -> b.setHitsAddend(-1); // uint32 max
          case 1 -> b.addDescriptors(d.toBuilder().setHitsAddend(UInt64Value.of(-1L))); // uint64 max
          case 2 -> b.addDescriptors(d.toBuilder().setHitsAddend(UInt64Value.of(Long.MAX_VALUE)));
          default -> b.setHitsAddend(Integer.MAX_VALUE).addDescriptors(d.toBuilder()
              .setHitsAddend(UInt64Value.of(r.nextLong())));
        }
        if (b.getDescriptorsCount() == 0) {
          b.addDescriptors(d);
        }
        yield b.build().toByteArray();
      }
      case UNKNOWN_DOMAIN -> request("h-domain-" + r.nextInt(1_000_000), descriptor("tier", "free", "org", name(r)))
          .toByteArray();
      case EMPTY_STRINGS -> request("api", descriptor("", ""), descriptor("tier", "", "org", ""),
          descriptor("tier", "free", "org", "")).toByteArray();
      case ODD_CHARACTERS -> request("api", descriptor("tier", "free", "org", oddString(r)),
          descriptor(oddString(r), oddString(r))).toByteArray();
      case DEEP_ENTRIES -> {
        RateLimitDescriptor.Builder d = RateLimitDescriptor.newBuilder();
        String[] path = {"a", "b", "c", "d"};
        int n = 1 + r.nextInt(16);
        for (int i = 0; i < n; i++) {
          d.addEntries(entry(i < path.length ? path[i] : "deeper" + i, name(r)));
        }
        yield request("api", d.build()).toByteArray();
      }
      case MANY_DESCRIPTORS -> {
        RateLimitRequest.Builder b = RateLimitRequest.newBuilder().setDomain("api");
        int n = 1 + r.nextInt(64);
        for (int i = 0; i < n; i++) {
          b.addDescriptors(r.nextBoolean() ? descriptor("tier", "free", "org", name(r))
              : descriptor("path", "/v1/" + name(r)));
        }
        yield b.build().toByteArray();
      }
      case BAD_OVERRIDE_UNIT -> request("api", descriptor("tier", "free", "org", name(r)).toBuilder()
          .setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder().setRequestsPerUnit(10)
              .setUnitValue(r.nextBoolean() ? 0 : 100 + r.nextInt(1000)))
          .build()).toByteArray();
      case EXTREME_OVERRIDE -> request("api", descriptor("tier", "free", "org", name(r)).toBuilder()
          .setLimit(RateLimitDescriptor.RateLimitOverride.newBuilder()
              .setRequestsPerUnit(r.nextBoolean() ? 0 : -1)
              .setUnit(RateLimitUnit.forNumber(1 + r.nextInt(6))))
          .setHitsAddend(UInt64Value.of(r.nextBoolean() ? 1 : -1L))
          .build()).toByteArray();
      case ODD_ADDRESSES -> request("api", descriptor("remote_address", oddAddress(r))).toByteArray();
    };
  }

  /** A request whose domain, entry key or entry value holds bytes that are not UTF-8, written field by field. */
  private static byte[] invalidUtf8(Random r) throws IOException {
    byte[] bad = switch (r.nextInt(5)) {
      case 0 -> new byte[] {(byte) 0xC3, 0x28}; // invalid continuation
      case 1 -> new byte[] {(byte) 0xFF};
      case 2 -> new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80}; // UTF-16 surrogate encoded
      case 3 -> new byte[] {(byte) 0xC0, (byte) 0xAF}; // overlong '/'
      default -> new byte[] {'o', 'r', 'g', (byte) 0xE2, (byte) 0x82}; // truncated sequence
    };
    byte[] ok = "free".getBytes(StandardCharsets.UTF_8);
    int where = r.nextInt(3);
    byte[] entryOne = message(out -> {
      out.writeByteArray(1, "tier".getBytes(StandardCharsets.UTF_8));
      out.writeByteArray(2, ok);
    });
    byte[] entryTwo = message(out -> {
      out.writeByteArray(1, where == 1 ? bad : "org".getBytes(StandardCharsets.UTF_8));
      out.writeByteArray(2, where == 2 ? bad : "h-utf8".getBytes(StandardCharsets.UTF_8));
    });
    byte[] descriptor = message(out -> {
      out.writeByteArray(1, entryOne);
      out.writeByteArray(1, entryTwo);
    });
    return message(out -> {
      out.writeByteArray(1, where == 0 ? bad : "api".getBytes(StandardCharsets.UTF_8));
      out.writeByteArray(2, descriptor);
    });
  }

  private interface Writer {
    void write(CodedOutputStream out) throws IOException;
  }

  private static byte[] message(Writer writer) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    CodedOutputStream out = CodedOutputStream.newInstance(bytes);
    writer.write(out);
    out.flush();
    return bytes.toByteArray();
  }

  private static String name(Random r) {
    return "h" + Long.toString(r.nextLong() & Long.MAX_VALUE, 36);
  }

  private static final String ODD_ASCII = "*?%/\\:;\"'`{}[]\u202e\ufeff";

  private static String oddString(Random r) {
    StringBuilder s = new StringBuilder("h");
    int n = r.nextInt(40);
    for (int i = 0; i < n; i++) {
      int kind = r.nextInt(5);
      s.appendCodePoint(switch (kind) {
        case 0 -> r.nextInt(0x20); // control characters, NUL
        case 1 -> 0x80 + r.nextInt(0x780); // two-byte UTF-8
        case 2 -> 0x10000 + r.nextInt(0x10000); // four-byte UTF-8 (surrogate pairs in Java)
        case 3 -> ODD_ASCII.charAt(r.nextInt(ODD_ASCII.length()));
        default -> 'a' + r.nextInt(26);
      });
    }
    return s.toString();
  }

  private static String oddAddress(Random r) {
    String[] odd = {"", "::", "::ffff:", "1.2.3.4.5", "999.1.1.1", "fe80::1%25eth0", "[::1]:80",
        "2001:db8::1/64", ":".repeat(45), "1".repeat(46), "::ffff:255.255.255.255", "0:0:0:0:0:0:0:0",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "\u0661.\u0662.\u0663.\u0664", "localhost"};
    return r.nextInt(3) == 0 ? "2001:db8:" + Integer.toHexString(r.nextInt(0x10000)) + "::" + r.nextInt(9999)
        : odd[r.nextInt(odd.length)];
  }

  private static RateLimitDescriptor.Entry entry(String key, String value) {
    return RateLimitDescriptor.Entry.newBuilder().setKey(key).setValue(value).build();
  }

  private static RateLimitDescriptor descriptor(String... keysAndValues) {
    return TestServer.descriptor(keysAndValues);
  }

  private static RateLimitRequest request(String domain, RateLimitDescriptor... descriptors) {
    return TestServer.request(domain, descriptors);
  }

  /** Sends pre-serialized bytes as they are, so the wire can carry what no well-formed message would. */
  private static final class RawBytes implements MethodDescriptor.Marshaller<byte[]> {
    @Override
    public InputStream stream(byte[] value) {
      return new ByteArrayInputStream(value);
    }

    @Override
    public byte[] parse(InputStream stream) {
      try {
        return stream.readAllBytes();
      } catch (IOException e) {
        throw new StatusRuntimeException(Status.INTERNAL.withCause(e));
      }
    }
  }
}
