package dev.ratelimit.testing;

import dev.ratelimit.proto.admin.v1.Entry;
import dev.ratelimit.proto.admin.v1.GetCounterRequest;
import dev.ratelimit.proto.admin.v1.GetQuotaRequest;
import dev.ratelimit.proto.admin.v1.RateLimitAdminGrpc;
import dev.ratelimit.proto.admin.v1.RecordVolumeRequest;
import dev.ratelimit.proto.admin.v1.SetQuotaRequest;
import dev.ratelimit.security.AdminAccess;
import io.grpc.Channel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** Calls every {@code RateLimitAdmin} method once and reports each status code, for tests of who may call them. */
public final class AdminCalls {
  /** Every method of the admin API, in the order {@link #everyMethod} calls them. */
  public static final List<String> METHODS = List.of("GetCounter", "RecordVolume", "SetQuota",
      "GetQuota");

  private AdminCalls() {}

  /** Status code of each method called without credentials. */
  public static Map<String, Status.Code> everyMethod(Channel channel) {
    return everyMethod(channel, null);
  }

  /** Status code of each method called with {@code authorization: <authorization>} (none when null). */
  public static Map<String, Status.Code> everyMethod(Channel channel, String authorization) {
    RateLimitAdminGrpc.RateLimitAdminBlockingStub stub = stub(channel, authorization);
    Map<String, Status.Code> codes = new LinkedHashMap<>();
    codes.put("GetCounter", code(s -> s.getCounter(GetCounterRequest.newBuilder().setDomain("api")
        .addEntries(Entry.newBuilder().setKey("tier").setValue("free"))
        .addEntries(Entry.newBuilder().setKey("org").setValue("acme")).build()), stub));
    codes.put("RecordVolume", code(s -> s.recordVolume(RecordVolumeRequest.newBuilder().setOrg("acme").setUsd(10)
        .build()), stub));
    codes.put("SetQuota", code(s -> s.setQuota(SetQuotaRequest.newBuilder().setOrg("acme").setAdded(5).build()),
        stub));
    codes.put("GetQuota", code(s -> s.getQuota(GetQuotaRequest.newBuilder().setOrg("acme").build()), stub));
    return codes;
  }

  /** The same code for every method, as {@link #everyMethod} reports it. */
  public static Map<String, Status.Code> all(Status.Code code) {
    Map<String, Status.Code> codes = new LinkedHashMap<>();
    METHODS.forEach(m -> codes.put(m, code));
    return codes;
  }

  /** A blocking admin stub with a 10 s deadline, sending {@code authorization} metadata when it is not null. */
  public static RateLimitAdminGrpc.RateLimitAdminBlockingStub stub(Channel channel, String authorization) {
    RateLimitAdminGrpc.RateLimitAdminBlockingStub stub = RateLimitAdminGrpc.newBlockingStub(channel);
    if (authorization != null) {
      Metadata headers = new Metadata();
      headers.put(AdminAccess.AUTHORIZATION, authorization);
      stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    return stub.withDeadlineAfter(10, TimeUnit.SECONDS);
  }

  private static Status.Code code(Consumer<RateLimitAdminGrpc.RateLimitAdminBlockingStub> call,
      RateLimitAdminGrpc.RateLimitAdminBlockingStub stub) {
    try {
      call.accept(stub);
      return Status.Code.OK;
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode();
    }
  }
}
