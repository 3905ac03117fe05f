package dev.ratelimit.auth;

import static dev.ratelimit.testing.TestServer.descriptor;
import static dev.ratelimit.testing.TestServer.request;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.bootstrap.ServerSettings;
import dev.ratelimit.testing.Http;
import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.type.v3.StatusCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ext_authz API-key resolver on the gRPC port: what Envoy's ext_authz filter receives for keyless, valid and
 * unknown keys, the keys file's reload, and the plan the resolved headers lead to.
 */
class ApiKeyAuthTest {
  private static final String FREE_KEY = "demo-free-key";
  private static final String PRO_KEY = "demo-pro-key";

  @TempDir
  Path dir;

  @Test
  void resolvesKeysToOrgHeadersAndThePlanApplies() throws Exception {
    Path keys = dir.resolve("keys.yaml");
    Files.copy(Path.of("..", "envoy-config", "api-keys.example.yaml"), keys);
    ManualClock clock = ManualClock.atRoundTime();
    try (TestServer server = TestServer.start(settings(keys), clock)) {
      AuthorizationGrpc.AuthorizationBlockingStub auth = AuthorizationGrpc.newBlockingStub(server.channel());

      CheckResponse keyless = check(auth, Map.of("x-org-id", "forged", "x-org-tier", "pro", ":path", "/v1/quote"));
      assertEquals(0, keyless.getStatus().getCode());
      assertTrue(keyless.getOkResponse().getHeadersList().isEmpty(), "nothing set for a keyless request");
      assertEquals(List.of("x-org-id", "x-org-tier", "x-api-key-id"),
          keyless.getOkResponse().getHeadersToRemoveList(), "client-supplied identity removed");

      CheckResponse valid = check(auth, Map.of("x-api-key", FREE_KEY, "x-org-id", "forged", "x-org-tier", "pro"));
      assertEquals(0, valid.getStatus().getCode());
      assertEquals(Map.of("x-org-id", "demo-free", "x-org-tier", "free", "x-api-key-id", "demo-free-1"),
          set(valid.getOkResponse().getHeadersList()), "set, overwriting what the client sent");
      assertFalse(valid.getOkResponse().getHeadersToRemoveList().contains("x-api-key"), "the key passes through");
      assertFalse(valid.toString().contains(FREE_KEY), "the key is never echoed");

      CheckResponse bad = check(auth, Map.of("x-api-key", "not-a-key"));
      assertTrue(bad.hasDeniedResponse());
      assertEquals(16, bad.getStatus().getCode(), "UNAUTHENTICATED");
      assertEquals(StatusCode.Unauthorized, bad.getDeniedResponse().getStatus().getCode());
      assertEquals("{\"error\":\"invalid API key\"}", bad.getDeniedResponse().getBody());
      assertEquals(Map.of("content-type", "application/json"), set(bad.getDeniedResponse().getHeadersList()));

      String metrics = Http.get(server.admin("/metrics")).body();
      assertEquals(1.0, Http.sample(metrics, "ratelimit_auth_checks_total", Map.of("result", "valid")));
      assertEquals(1.0, Http.sample(metrics, "ratelimit_auth_checks_total", Map.of("result", "unknown")));
      assertEquals(1.0, Http.sample(metrics, "ratelimit_auth_checks_total", Map.of("result", "keyless")));

      // The descriptors Envoy builds from the resolved headers: [tier=free, org=demo-free] → 60 a minute.
      Map<String, String> resolved = set(valid.getOkResponse().getHeadersList());
      var plan = request("api", descriptor("tier", resolved.get("x-org-tier"), "org", resolved.get("x-org-id")));
      for (int i = 0; i < 60; i++) {
        assertEquals(Code.OK, server.call(plan).getOverallCode(), "request " + (i + 1));
      }
      RateLimitResponse over = server.call(plan);
      assertEquals(Code.OVER_LIMIT, over.getOverallCode());
      assertEquals(60, over.getStatuses(0).getCurrentLimit().getRequestsPerUnit());
      assertEquals("free", over.getStatuses(0).getCurrentLimit().getName());
    }
  }

  @Test
  void aChangedKeysFileIsPickedUpAndABrokenEditKeepsTheLastGoodKeys() throws Exception {
    Path keys = dir.resolve("keys.yaml");
    Files.writeString(keys, entry(FREE_KEY, "acme", "free", null));
    try (TestServer server = TestServer.start(settings(keys), ManualClock.atRoundTime())) {
      AuthorizationGrpc.AuthorizationBlockingStub auth = AuthorizationGrpc.newBlockingStub(server.channel());
      CheckResponse noId = check(auth, Map.of("x-api-key", FREE_KEY, "x-api-key-id", "forged"));
      assertEquals(Map.of("x-org-id", "acme", "x-org-tier", "free"), set(noId.getOkResponse().getHeadersList()));
      assertEquals(List.of("x-api-key-id"), noId.getOkResponse().getHeadersToRemoveList(),
          "an entry without id removes a forged one");
      assertTrue(check(auth, Map.of("x-api-key", PRO_KEY)).hasDeniedResponse());

      replace(keys, entry(FREE_KEY, "acme", "free", null) + entry(PRO_KEY, "acme", "pro", "acme-ci")
          .replace("keys:\n", ""));
      CheckResponse pro = awaitOk(auth, PRO_KEY);
      assertEquals(Map.of("x-org-id", "acme", "x-org-tier", "pro", "x-api-key-id", "acme-ci"),
          set(pro.getOkResponse().getHeadersList()));

      replace(keys, "keys:\n  - sha256: " + ApiKeys.sha256Hex("new") + "\n    org: acme\n");
      String body = awaitMetric(server, "ratelimit_api_keys_reloads_total", Map.of("result", "rejected"));
      assertEquals(1.0, Http.sample(body, "ratelimit_api_keys_reloads_total", Map.of("result", "applied")));
      assertEquals(2.0, Http.sample(body, "ratelimit_api_keys", Map.of()), "the last good keys keep answering");
      assertEquals(0, check(auth, Map.of("x-api-key", PRO_KEY)).getStatus().getCode());
    }
  }

  private static ServerSettings settings(Path keys) {
    ServerSettings defaults = ServerSettings.loopback().build();
    return defaults.toBuilder()
        .apiKeys(keys)
        .configCheckInterval(Duration.ofMillis(20))
        .build();
  }

  /** Replaces the file in one step, as a deployment tool (or a Secret's symlink swap) does. */
  private static void replace(Path file, String text) throws Exception {
    Path next = file.resolveSibling(file.getFileName() + ".next");
    Files.writeString(next, text);
    Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static String entry(String key, String org, String tier, String id) {
    return "keys:\n  - sha256: " + ApiKeys.sha256Hex(key) + "\n    org: " + org + "\n    tier: " + tier + "\n"
        + (id == null ? "" : "    id: " + id + "\n");
  }

  private static CheckResponse check(AuthorizationGrpc.AuthorizationBlockingStub auth, Map<String, String> headers) {
    CheckRequest request = CheckRequest.newBuilder()
        .setAttributes(AttributeContext.newBuilder().setRequest(AttributeContext.Request.newBuilder()
            .setHttp(AttributeContext.HttpRequest.newBuilder().putAllHeaders(headers).setMethod("GET"))))
        .build();
    return auth.withDeadlineAfter(10, TimeUnit.SECONDS).check(request);
  }

  /** The headers set, by name; each must overwrite rather than append. */
  private static Map<String, String> set(List<HeaderValueOption> options) {
    Map<String, String> headers = new HashMap<>();
    for (HeaderValueOption option : options) {
      assertEquals(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, option.getAppendAction(), option.toString());
      headers.put(option.getHeader().getKey(), option.getHeader().getValue());
    }
    return headers;
  }

  private static CheckResponse awaitOk(AuthorizationGrpc.AuthorizationBlockingStub auth, String key)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (true) {
      CheckResponse response = check(auth, Map.of("x-api-key", key));
      if (response.getStatus().getCode() == 0 || System.nanoTime() > deadline) {
        return response;
      }
      Thread.sleep(20);
    }
  }

  private static String awaitMetric(TestServer server, String name, Map<String, String> labels) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
    while (true) {
      String body = Http.get(server.admin("/metrics")).body();
      Double value = Http.sample(body, name, labels);
      if ((value != null && value > 0) || System.nanoTime() > deadline) {
        assertEquals(1.0, value, name + labels);
        return body;
      }
      Thread.sleep(20);
    }
  }

}
