package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import dev.ratelimit.bootstrap.ServerSettings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.ratelimit.testing.ManualClock;
import dev.ratelimit.testing.TestServer;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The README's quick start through Envoy, without an Envoy binary: each documented {@code curl} goes, as Envoy would
 * send it, to the server's ext_authz check (started with the example keys file, as the README says), then with the
 * headers the check set through {@code envoy.yaml}'s route actions to {@code ShouldRateLimit}; the status and header
 * written next to each command in the README are what comes back.
 */
@Tag("deploy")
class ReadmeQuickStartTest {
  /** {@code curl -i [-H 'x-api-key: KEY'] localhost:8080PATH   # STATUS, EXPECTED (note)}. */
  private static final Pattern CURL = Pattern.compile(
      "^curl -i (?:-H 'x-api-key: (\\S+)' )?localhost:8080(/\\S*)\\s+# (\\d{3}), (.+?) \\(.*\\)$");
  /** curl's client address as Envoy's remote_address action sees it. */
  private static final String CLIENT = "127.0.0.1";

  private record Documented(String apiKey, String path, int status, String expected) {}

  @Test
  void theThreeRequestsGetTheDocumentedAnswers() throws Exception {
    List<Documented> requests = documented();
    assertEquals(3, requests.size(), "keyless, a valid key, a bad key: " + requests);
    var bootstrap = EnvoyBootstrapTest.bootstrap();
    RouteDescriptors routes = RouteDescriptors.of(bootstrap);
    String domain = EnvoyBootstrapTest.rateLimitFilter(bootstrap).getDomain();
    ServerSettings defaults = ServerSettings.loopback().build(); // the embedded api.yaml
    try (TestServer server = TestServer.start(
        defaults.toBuilder().apiKeys(Repo.file("envoy-config/api-keys.example.yaml")).build(),
        ManualClock.atRoundTime())) {
      for (Documented request : requests) {
        Map<String, String> headers = new HashMap<>();
        if (request.apiKey() != null) {
          headers.put("x-api-key", request.apiKey());
        }
        CheckResponse auth = AuthorizationGrpc.newBlockingStub(server.channel())
            .withDeadlineAfter(10, TimeUnit.SECONDS)
            .check(CheckRequest.newBuilder().setAttributes(AttributeContext.newBuilder().setRequest(
                AttributeContext.Request.newBuilder().setHttp(AttributeContext.HttpRequest.newBuilder()
                    .setMethod("GET").setPath(request.path()).putAllHeaders(headers)))).build());
        if (auth.hasDeniedResponse()) {
          assertEquals(request.status(), auth.getDeniedResponse().getStatus().getCodeValue(), request.toString());
          assertEquals(request.expected(), auth.getDeniedResponse().getBody(), request.toString());
          continue;
        }
        for (HeaderValueOption set : auth.getOkResponse().getHeadersList()) {
          headers.put(set.getHeader().getKey(), set.getHeader().getValue());
        }
        auth.getOkResponse().getHeadersToRemoveList().forEach(headers::remove);
        SampleRequest sample = new SampleRequest(request.path(), headers, CLIENT);
        RateLimitResponse answer = server.call(RateLimitRequest.newBuilder().setDomain(domain)
            .addAllDescriptors(routes.descriptors(sample)).build());
        assertEquals(request.status() == 200 ? Code.OK : Code.OVER_LIMIT, answer.getOverallCode(), request.toString());
        String[] header = request.expected().split(": ", 2);
        assertEquals(header[1], TestServer.headers(answer).get(header[0]), request.toString());
      }
    }
  }

  private static List<Documented> documented() throws Exception {
    List<Documented> requests = new ArrayList<>();
    for (String line : Files.readAllLines(Repo.file("README.md"))) {
      if (line.startsWith("curl -i ") && line.contains("localhost:8080")) {
        Matcher m = CURL.matcher(line);
        assertTrue(m.matches(), "a quick-start request this test cannot read: " + line);
        requests.add(new Documented(m.group(1), m.group(2), Integer.parseInt(m.group(3)), m.group(4)));
      }
    }
    assertFalse(requests.isEmpty(), "the README shows no request through Envoy");
    return requests;
  }
}
