package dev.ratelimit.engine.model;

import com.google.protobuf.UInt64Value;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.engine.ResponseHeaders;
import dev.ratelimit.engine.model.ModelAction.Descriptor;
import dev.ratelimit.engine.model.ModelAction.Kind;
import dev.ratelimit.engine.model.ReferenceModel.Expected;
import dev.ratelimit.engine.model.ReferenceModel.Status;
import io.envoyproxy.envoy.extensions.common.ratelimit.v3.RateLimitDescriptor;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import net.jqwik.api.statistics.Statistics;

/**
 * Runs one action sequence against a {@link ModelTarget} and the {@link ReferenceModel} side by side. After every
 * request it compares the overall code and every descriptor's code (and, on exact targets, each status's limit,
 * remaining and reset and the reported headers); after every step it reads the counters the step touched (all of
 * them after a clock move, reload or sweep) check-only and compares them with the model's; and it checks from the
 * server's own answers that no counter ever admitted more than its limit within any window of length W.
 */
public final class ModelRun {
  /** Counters read check-only per probe request, to stay far below the request size bound. */
  private static final int PROBE_BATCH = 8;

  private final ModelTarget target;
  private final String domain;
  private final ReferenceModel model;
  private final List<String> steps = new ArrayList<>();
  /** Hits the server admitted and kept, per counter: {time, hits}. */
  private final Map<List<String>, List<long[]>> kept = new HashMap<>();
  private int rejected;
  private int takenBack;

  private ModelRun(ModelTarget target, String domain, ModelPolicy initial) {
    this.target = target;
    this.domain = domain;
    this.model = new ReferenceModel(initial);
  }

  /** Runs {@code actions} on {@code domain}, which must be new to the target's store; throws on the first mismatch. */
  public static void run(ModelTarget target, String domain, ModelPolicy initial, List<ModelAction> actions)
      throws Exception {
    ModelRun run = new ModelRun(target, domain, initial);
    target.reload(domain, initial);
    for (ModelAction action : actions) {
      run.step(action);
    }
    // How far the sequences reach, in the property's report: a model nobody drives past its limits proves little.
    Statistics.label("requests").collect(run.rejected > 0 ? "some rejected" : "none rejected");
    Statistics.label("hits taken back").collect(run.takenBack > 0 ? "some" : "none");
  }

  private void step(ModelAction action) throws Exception {
    steps.add(action + " @" + (target.clock().millis() % 3_600_000));
    if (action instanceof ModelAction.Request r) {
      request(r);
      probe(r.descriptors().stream().map(Descriptor::entries).distinct().toList());
      return;
    }
    if (action instanceof ModelAction.Advance a) {
      target.clock().advanceMillis(a.millis());
    } else if (action instanceof ModelAction.Reload r) {
      target.reload(domain, r.policy());
      model.reload(r.policy());
    } else {
      target.sweep();
    }
    probe(model.counters());
  }

  private void request(ModelAction.Request r) throws Exception {
    long now = target.clock().millis();
    Expected expected = model.request(r, now);
    rejected += expected.overLimit() ? 1 : 0;
    boolean admittedSome = expected.statuses().stream().anyMatch(st -> st.admitted() && st.hits() > 0);
    takenBack += !expected.kept() && admittedSome ? 1 : 0;
    RateLimitResponse actual = target.decide(r.proto(domain));
    check(actual.getStatusesCount() == r.descriptors().size(), "one status per descriptor", expected, actual);
    check(actual.getOverallCode() == code(expected.overLimit()), "overall code", expected, actual);
    for (int i = 0; i < expected.statuses().size(); i++) {
      Status want = expected.statuses().get(i);
      DescriptorStatus got = actual.getStatuses(i);
      check(got.getCode() == code(want.over()), "code of descriptor " + i, expected, actual);
      if (target.exactStatuses()) {
        checkFields(i, want, got, now, expected, actual);
      }
    }
    if (target.exactStatuses()) {
      checkHeaders(expected, actual, now);
    }
    recordKept(r, actual, now, expected);
  }

  private void checkFields(int i, Status want, DescriptorStatus got, long now, Expected expected,
      RateLimitResponse actual) {
    if (want.counter() == null) {
      check(!got.hasCurrentLimit(), "descriptor " + i + " matches no rule: no limit", expected, actual);
      return;
    }
    check(Integer.toUnsignedLong(got.getCurrentLimit().getRequestsPerUnit()) == want.limit(),
        "limit of descriptor " + i, expected, actual);
    check(Integer.toUnsignedLong(got.getLimitRemaining()) == Math.max(0, Math.min(want.remaining(), 0xFFFF_FFFFL)),
        "limit_remaining of descriptor " + i, expected, actual);
    long untilReset = got.getDurationUntilReset().getSeconds() * 1000 + got.getDurationUntilReset().getNanos() / 1_000_000;
    check(untilReset == Math.max(0, want.resetAtMillis() - now), "duration_until_reset of descriptor " + i, expected,
        actual);
  }

  private void checkHeaders(Expected expected, RateLimitResponse actual, long now) {
    Map<String, String> headers = new LinkedHashMap<>();
    actual.getResponseHeadersToAddList().forEach(h -> headers.put(h.getKey(), h.getValue()));
    Map<String, String> want = new LinkedHashMap<>();
    if (expected.reporter() >= 0) {
      Status r = expected.statuses().get(expected.reporter());
      want.put(RateLimitEngine.HEADER_REMAINING, Long.toString(r.remaining()));
      want.put(RateLimitEngine.HEADER_CURRENT, Long.toString(r.currentAfter()));
      want.put(RateLimitEngine.HEADER_RESET, Long.toString(Math.floorDiv(r.resetAtMillis() + 999, 1000)));
      if (!r.admitted()) {
        // Retry-After on an over-limit answer: seconds until the reporting descriptor's reset, rounded up, at least 1.
        want.put(ResponseHeaders.RETRY_AFTER, Long.toString(Math.max(1, (Math.max(0, r.resetAtMillis() - now) + 999)
            / 1000)));
      }
    }
    check(headers.equals(want), "x-ratelimit headers (expected " + want + " from descriptor " + expected.reporter()
        + ")", expected, actual);
  }

  /**
   * Logs the hits the server admitted and kept (by its own answers) and checks the invariant: at every admission,
   * the hits kept in the true window (t − W, t] are within the limit in force. Shadow-rule counters are left out:
   * the server's answer does not say whether a shadow descriptor's hit was admitted.
   */
  private void recordKept(ModelAction.Request r, RateLimitResponse actual, long now, Expected expected) {
    boolean requestKept = actual.getOverallCode() == Code.OK || model.policy().countWithinLimit();
    for (int i = 0; i < r.descriptors().size(); i++) {
      Descriptor d = r.descriptors().get(i);
      DescriptorStatus status = actual.getStatuses(i);
      long hits = ReferenceModel.hitsOf(d, r.requestHits());
      if (d.kind() == Kind.S || !status.hasCurrentLimit() || status.getCode() != Code.OK || hits == 0
          || !requestKept) {
        continue;
      }
      List<long[]> log = kept.computeIfAbsent(d.entries(), c -> new ArrayList<>());
      log.add(new long[] {now, hits});
      long limit = Integer.toUnsignedLong(status.getCurrentLimit().getRequestsPerUnit());
      long inWindow = log.stream().filter(e -> e[0] > now - ReferenceModel.WINDOW_MILLIS).mapToLong(e -> e[1]).sum();
      check(inWindow <= limit, "admitted " + inWindow + " hits within one window on " + show(d.entries())
          + ", limit " + limit, expected, actual);
    }
  }

  /** Reads each counter check-only (hits_addend 0) and compares it with the model's count. */
  private void probe(Collection<List<String>> counters) throws Exception {
    List<List<String>> all = new ArrayList<>(counters);
    long now = target.clock().millis();
    for (int from = 0; from < all.size(); from += PROBE_BATCH) {
      List<List<String>> batch = all.subList(from, Math.min(all.size(), from + PROBE_BATCH));
      RateLimitRequest.Builder request = RateLimitRequest.newBuilder().setDomain(domain);
      long[] want = new long[batch.size()];
      long[] limits = new long[batch.size()];
      for (int i = 0; i < batch.size(); i++) {
        want[i] = model.current(batch.get(i), now);
        // An override as high as the expected count: the read widens no counter, and any other count shows.
        limits[i] = Math.max(1, want[i]);
        request.addDescriptors(probeDescriptor(batch.get(i), (int) limits[i]));
      }
      RateLimitResponse actual = target.decide(request.build());
      for (int i = 0; i < batch.size(); i++) {
        DescriptorStatus got = actual.getStatuses(i);
        long counted = got.getCode() == Code.OK ? limits[i] - Integer.toUnsignedLong(got.getLimitRemaining()) : -1;
        if (counted != want[i]) {
          throw new AssertionError("check-only read of " + show(batch.get(i)) + ": the server counts "
              + (counted < 0 ? "more than " + limits[i] : counted) + ", the model " + want[i] + "\n" + trace());
        }
      }
    }
  }

  private void check(boolean ok, String what, Expected expected, RateLimitResponse actual) {
    if (!ok) {
      throw new AssertionError(what + " differs from the model\n  model:  " + describe(expected) + "\n  server: "
          + describe(actual) + "\n" + trace());
    }
  }

  private String trace() {
    return "  steps (clock mod 1 h):\n    " + String.join("\n    ", steps);
  }

  private static Code code(boolean over) {
    return over ? Code.OVER_LIMIT : Code.OK;
  }

  private static String describe(Expected e) {
    StringBuilder s = new StringBuilder(e.overLimit() ? "OVER_LIMIT [" : "OK [");
    for (Status st : e.statuses()) {
      s.append(st.counter() == null ? "OK(no rule)" : (st.over() ? "OVER" : "OK") + "(limit " + st.limit()
          + ", current " + st.currentAfter() + ", reset " + st.resetAtMillis() % 3_600_000 + ")").append(' ');
    }
    return s.append("] reporter ").append(e.reporter()).append(e.kept() ? "" : ", nothing kept").toString();
  }

  private static String describe(RateLimitResponse r) {
    StringBuilder s = new StringBuilder(r.getOverallCode() + " [");
    for (DescriptorStatus st : r.getStatusesList()) {
      s.append(st.getCode() == Code.OVER_LIMIT ? "OVER" : "OK");
      if (st.hasCurrentLimit()) {
        s.append("(limit ").append(Integer.toUnsignedString(st.getCurrentLimit().getRequestsPerUnit()))
            .append(", remaining ").append(Integer.toUnsignedString(st.getLimitRemaining()))
            .append(", reset in ").append(st.getDurationUntilReset().getSeconds()).append(" s)");
      }
      s.append(' ');
    }
    s.append("] headers");
    r.getResponseHeadersToAddList().forEach(h -> s.append(' ').append(h.getKey()).append('=').append(h.getValue()));
    return s.toString();
  }

  private static String show(List<String> entries) {
    List<String> shown = new ArrayList<>();
    for (int i = 0; i < entries.size(); i += 2) {
      shown.add(entries.get(i) + "=" + Descriptor.show(entries.get(i + 1)));
    }
    return shown.toString();
  }

  /** A check-only read of {@code entries} under an override of {@code limit} per minute. */
  private static RateLimitDescriptor probeDescriptor(List<String> entries, int limit) {
    return ModelAction.entriesProto(entries).setHitsAddend(UInt64Value.of(0))
        .setLimit(ModelAction.overrideProto(limit)).build();
  }
}
