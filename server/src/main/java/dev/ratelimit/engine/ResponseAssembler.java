package dev.ratelimit.engine;

import dev.ratelimit.ops.ServiceMetrics;
import com.google.protobuf.Duration;
import dev.ratelimit.limiter.Verdict;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitRequest;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.Code;
import io.envoyproxy.envoy.service.ratelimit.v3.RateLimitResponse.DescriptorStatus;
import java.util.Arrays;
import java.util.Objects;

/**
 * The last step of a decision: Envoy's response from the decided evaluations. Each descriptor's status (with the
 * failure mode for those the store could not decide), the overall code, the one descriptor whose headers are reported,
 * and the metrics of every decision are decided here.
 */
final class ResponseAssembler {
  private final FailureMode failureMode;
  private final ServiceMetrics metrics;
  private final ResponseHeaders headers;

  ResponseAssembler(FailureMode failureMode, ServiceMetrics metrics, ResponseHeaders headers) {
    this.failureMode = Objects.requireNonNull(failureMode, "failureMode");
    this.metrics = Objects.requireNonNull(metrics, "metrics");
    this.headers = Objects.requireNonNull(headers, "headers");
  }

  /** {@code OK} for every descriptor: the answer for a domain no policy declares. */
  static RateLimitResponse allOk(int descriptors) {
    RateLimitResponse.Builder ok = RateLimitResponse.newBuilder().setOverallCode(Code.OK);
    for (int i = 0; i < descriptors; i++) {
      ok.addStatuses(DescriptorStatus.newBuilder().setCode(Code.OK));
    }
    return ok.build();
  }

  RateLimitResponse assemble(RateLimitRequest request, String domain, Evaluation[] evaluations, long now) {
    RateLimitResponse.Builder response = RateLimitResponse.newBuilder();
    boolean overall = false;
    Evaluation reporter = null;
    // Added in one go: adding them one by one grew the statuses list (an array copy per response).
    DescriptorStatus[] statuses = new DescriptorStatus[evaluations.length];
    for (int i = 0; i < evaluations.length; i++) {
      Evaluation evaluation = evaluations[i];
      DescriptorStatus.Builder status = DescriptorStatus.newBuilder().setCode(Code.OK);
      Outcome outcome = evaluate(evaluation, now, status);
      metrics.decision(domain, evaluation == null ? null : evaluation.rule, outcome);
      if (evaluation != null && evaluation.error == null) {
        metrics.hits(domain, evaluation.rule, evaluation.hits, evaluation.verdict);
      }
      if (evaluation != null && evaluation.rule != null && evaluation.rule.detailedMetric()) {
        metrics.detailedDecision(domain, evaluation.rule, request.getDescriptors(i), outcome);
      }
      overall |= status.getCode() == Code.OVER_LIMIT;
      if (evaluation != null && evaluation.verdict != null && reportsBefore(evaluation, reporter)) {
        reporter = evaluation;
      }
      statuses[i] = status.build();
    }
    response.addAllStatuses(Arrays.asList(statuses));
    response.setOverallCode(overall ? Code.OVER_LIMIT : Code.OK);
    if (reporter != null) {
      headers.write(response, reporter.rule, reporter.verdict, now);
    }
    return response.build();
  }

  /** Fills in one descriptor's status and returns how it was decided. */
  private Outcome evaluate(Evaluation e, long now, DescriptorStatus.Builder status) {
    if (e == null) {
      return Outcome.NO_RULE;
    }
    if (e.error != null || e.failure != null) {
      if (e.failure != null) {
        metrics.storeFailure(e.failure);
      }
      status.setCode(failureMode == FailureMode.DENY ? Code.OVER_LIMIT : Code.OK);
      return e.error != null ? Outcome.DESCRIPTOR_FAILURE : Outcome.STORE_FAILURE;
    }
    if (e.rule.unlimited()) {
      return Outcome.UNLIMITED;
    }
    Verdict v = e.verdict;
    Outcome outcome = !v.overLimit() ? Outcome.OK : e.rule.shadowMode() ? Outcome.SHADOW_OVER_LIMIT : Outcome.OVER_LIMIT;
    long untilReset = v.millisUntilReset(now);
    status.setCode(outcome == Outcome.OVER_LIMIT ? Code.OVER_LIMIT : Code.OK)
        .setCurrentLimit(RateLimitResponse.RateLimit.newBuilder()
            .setName(e.rule.name())
            .setRequestsPerUnit((int) Math.min(v.limit(), 0xFFFF_FFFFL))
            .setUnit(e.rule.unit().proto()))
        .setLimitRemaining((int) Math.max(0, Math.min(v.remaining(), 0xFFFF_FFFFL)))
        .setDurationUntilReset(Duration.newBuilder()
            .setSeconds(untilReset / 1000)
            .setNanos((int) (untilReset % 1000) * 1_000_000));
    return outcome;
  }

  /**
   * Whether {@code candidate} rather than {@code current} supplies the headers: over-limit descriptors first, among
   * them the latest reset (waiting until then frees a slot everywhere); otherwise the fewest remaining. Shadow-mode
   * rules and rules with {@code report_headers: false} never report.
   */
  private static boolean reportsBefore(Evaluation candidate, Evaluation current) {
    if (!candidate.rule.reportHeaders() || candidate.rule.shadowMode()) {
      return false;
    }
    if (current == null) {
      return true;
    }
    Verdict c = candidate.verdict;
    Verdict r = current.verdict;
    if (c.overLimit() != r.overLimit()) {
      return c.overLimit();
    }
    return c.overLimit() ? c.resetAtMillis() > r.resetAtMillis() : c.remaining() < r.remaining();
  }

}
