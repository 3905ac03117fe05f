package dev.ratelimit.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.DescriptorProtos.FileDescriptorProto;
import com.google.protobuf.Descriptors.DescriptorValidationException;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.grpc.Channel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * Server reflection answers real clients of both versions: v1, and the deprecated v1alpha that ghz and older grpcurl
 * ask for. The public port lists what Envoy calls and never the admin API.
 */
class ReflectionTest {
  private static final String RLS = "envoy.service.ratelimit.v3.RateLimitService";
  private static final String ADMIN = "ratelimit.admin.v1.RateLimitAdmin";
  private static final List<String> PUBLIC_SERVICES = List.of(RLS, "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection");
  private static final List<String> ADMIN_SERVICES = List.of("grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection", ADMIN);

  private final ManualClock clock = ManualClock.atRoundTime();

  @Test
  void v1alphaListsThePublicServicesAndResolvesRateLimitServiceButNotTheAdminApi() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      Reflection v1alpha = new V1alpha(server.channel());
      assertEquals(sorted(PUBLIC_SERVICES), services(v1alpha));
      assertShouldRateLimitResolves(v1alpha);
      assertEquals(Status.Code.NOT_FOUND.value(), v1alpha.fileContainingSymbol(ADMIN).errorCode(),
          "the admin API is not on the public port");
    }
  }

  @Test
  void v1ListsThePublicServicesAndResolvesRateLimitServiceButNotTheAdminApi() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      Reflection v1 = new V1(server.channel());
      assertEquals(sorted(PUBLIC_SERVICES), services(v1));
      assertShouldRateLimitResolves(v1);
      assertEquals(Status.Code.NOT_FOUND.value(), v1.fileContainingSymbol(ADMIN).errorCode());
    }
  }

  @Test
  void theAdminListenerReflectsTheAdminApiAndNotEnvoysService() throws Exception {
    try (TestServer server = TestServer.start(ServerSettings.loopback().build(), clock)) {
      for (Reflection reflection : List.of(new V1alpha(server.adminChannel()), new V1(server.adminChannel()))) {
        assertEquals(sorted(ADMIN_SERVICES), services(reflection));
        FileDescriptor admin = resolve(reflection, ADMIN);
        assertNotNull(admin.findServiceByName("RateLimitAdmin").findMethodByName("SetQuota"));
        assertEquals(Status.Code.NOT_FOUND.value(), reflection.fileContainingSymbol(RLS).errorCode());
      }
    }
  }

  /** What grpcurl does before calling: the file defining the service, with every import, built and linked. */
  private static void assertShouldRateLimitResolves(Reflection reflection) throws Exception {
    FileDescriptor file = resolve(reflection, RLS);
    assertEquals("envoy.service.ratelimit.v3", file.getPackage());
    MethodDescriptor method = file.findServiceByName("RateLimitService").findMethodByName("ShouldRateLimit");
    assertEquals("envoy.service.ratelimit.v3.RateLimitRequest", method.getInputType().getFullName());
    assertEquals("envoy.service.ratelimit.v3.RateLimitResponse", method.getOutputType().getFullName());
    assertNotNull(method.getInputType().findFieldByName("descriptors").getMessageType()
        .findFieldByName("entries"), "nested types from imported files resolve");
  }

  private static FileDescriptor resolve(Reflection reflection, String symbol) throws Exception {
    Answer answer = reflection.fileContainingSymbol(symbol);
    assertEquals(0, answer.errorCode(), symbol);
    Map<String, FileDescriptorProto> files = new HashMap<>();
    for (ByteString bytes : answer.files()) {
      FileDescriptorProto file = FileDescriptorProto.parseFrom(bytes);
      files.put(file.getName(), file);
    }
    FileDescriptorProto first = FileDescriptorProto.parseFrom(answer.files().get(0));
    return build(first.getName(), files, reflection, new HashMap<>());
  }

  /** Builds {@code name} and its imports, asking by file name for any import the first answer left out. */
  private static FileDescriptor build(String name, Map<String, FileDescriptorProto> files, Reflection reflection,
      Map<String, FileDescriptor> built) throws InvalidProtocolBufferException, DescriptorValidationException {
    FileDescriptor done = built.get(name);
    if (done != null) {
      return done;
    }
    FileDescriptorProto proto = files.get(name);
    if (proto == null) {
      Answer answer = reflection.fileByFilename(name);
      assertEquals(0, answer.errorCode(), "the server knows the imported file " + name);
      for (ByteString bytes : answer.files()) {
        FileDescriptorProto file = FileDescriptorProto.parseFrom(bytes);
        files.putIfAbsent(file.getName(), file);
      }
      proto = files.get(name);
    }
    List<FileDescriptor> dependencies = new ArrayList<>();
    for (String dependency : proto.getDependencyList()) {
      dependencies.add(build(dependency, files, reflection, built));
    }
    FileDescriptor file = FileDescriptor.buildFrom(proto, dependencies.toArray(FileDescriptor[]::new));
    built.put(name, file);
    return file;
  }

  private static List<String> services(Reflection reflection) {
    Answer answer = reflection.listServices();
    assertEquals(0, answer.errorCode());
    return answer.services().stream().sorted().toList();
  }

  private static List<String> sorted(List<String> names) {
    return names.stream().sorted().toList();
  }

  /** One reflection answer, whichever the version: listed services, serialized files, or an error code (0: none). */
  private record Answer(List<String> services, List<ByteString> files, int errorCode) {}

  /** The three reflection questions grpcurl asks. */
  private interface Reflection {
    Answer listServices();

    Answer fileContainingSymbol(String symbol);

    Answer fileByFilename(String name);
  }

  /** The deprecated {@code grpc.reflection.v1alpha.ServerReflection}, with its own generated stubs. */
  @SuppressWarnings("deprecation")
  private record V1alpha(Channel channel) implements Reflection {
    @Override
    public Answer listServices() {
      return ask(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setListServices("").build());
    }

    @Override
    public Answer fileContainingSymbol(String symbol) {
      return ask(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setFileContainingSymbol(symbol)
          .build());
    }

    @Override
    public Answer fileByFilename(String name) {
      return ask(io.grpc.reflection.v1alpha.ServerReflectionRequest.newBuilder().setFileByFilename(name).build());
    }

    private Answer ask(io.grpc.reflection.v1alpha.ServerReflectionRequest request) {
      io.grpc.reflection.v1alpha.ServerReflectionResponse r = exchange(request, responses ->
          io.grpc.reflection.v1alpha.ServerReflectionGrpc.newStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
              .serverReflectionInfo(responses));
      return new Answer(
          r.getListServicesResponse().getServiceList().stream().map(s -> s.getName()).toList(),
          r.getFileDescriptorResponse().getFileDescriptorProtoList(),
          r.getErrorResponse().getErrorCode());
    }
  }

  /** {@code grpc.reflection.v1.ServerReflection}. */
  private record V1(Channel channel) implements Reflection {
    @Override
    public Answer listServices() {
      return ask(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
    }

    @Override
    public Answer fileContainingSymbol(String symbol) {
      return ask(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setFileContainingSymbol(symbol).build());
    }

    @Override
    public Answer fileByFilename(String name) {
      return ask(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setFileByFilename(name).build());
    }

    private Answer ask(io.grpc.reflection.v1.ServerReflectionRequest request) {
      io.grpc.reflection.v1.ServerReflectionResponse r = exchange(request, responses ->
          io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
              .serverReflectionInfo(responses));
      return new Answer(
          r.getListServicesResponse().getServiceList().stream().map(s -> s.getName()).toList(),
          r.getFileDescriptorResponse().getFileDescriptorProtoList(),
          r.getErrorResponse().getErrorCode());
    }
  }

  /** Sends one request on a new bidirectional reflection stream and returns the one response. */
  private static <Q, R> R exchange(Q request, Function<StreamObserver<R>, StreamObserver<Q>> open) {
    CompletableFuture<R> response = new CompletableFuture<>();
    StreamObserver<Q> requests = open.apply(new StreamObserver<>() {
      @Override
      public void onNext(R value) {
        response.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        response.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        response.completeExceptionally(new AssertionError("the stream ended without an answer"));
      }
    });
    requests.onNext(request);
    try {
      return response.get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new AssertionError("no reflection answer to " + request, e);
    } finally {
      requests.onCompleted();
    }
  }
}
