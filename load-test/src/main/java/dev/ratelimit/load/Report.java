package dev.ratelimit.load;

import java.util.Locale;
import java.util.Map;

/**
 * Outcome of the measured phase of a run, printable as text or JSON.
 *
 * @param mode          {@code open} (fixed rate) or {@code closed} (fixed concurrency)
 * @param target        server address
 * @param rate          open loop: scheduled requests per second (0 in closed loop)
 * @param concurrency   closed loop: calls in flight (0 in open loop)
 * @param connections   HTTP/2 connections
 * @param seconds       measured time: from the end of warm-up to the last completion
 * @param sent          calls sent in the measured phase
 * @param notSent       open loop: calls scheduled in the measured phase but never sent because the run had to stop
 *                      (the server fell more than one call timeout behind the schedule)
 * @param completed     calls that completed (responses plus errors)
 * @param ok            responses {@code OK}
 * @param overLimit     responses {@code OVER_LIMIT}
 * @param unknown       responses with any other overall code
 * @param errors        failed calls by gRPC status
 * @param notCompleted  calls still outstanding when the drain timed out
 * @param throughput    completed calls per second
 * @param latency       latency in microseconds (open loop: from the intended start, coordinated-omission corrected)
 * @param sendLag       open loop: how late calls were handed to gRPC, in microseconds (waiting for a free
 *                      {@code --max-in-flight} slot, or the generator itself falling behind); null in closed loop
 * @param pool          composition of the request pool
 */
public record Report(String mode, String target, long rate, int concurrency, int connections, double seconds,
                     long sent, long notSent, long completed, long ok, long overLimit, long unknown, Map<String, Long> errors,
                     long notCompleted, double throughput, LatencySummary latency, LatencySummary sendLag, PoolStats pool) {

    /** Sum of failed calls. */
    public long errorCount() {
        return errors.values().stream().mapToLong(Long::longValue).sum();
    }

    /** Human-readable report. */
    public String toText() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "target %s, %s loop, %s, %d connection(s)%n", target, mode,
                rate > 0 ? rate + " req/s scheduled" : concurrency + " in flight", connections));
        b.append(String.format(Locale.ROOT, "pool %d requests (%.0f B avg): %d orgs, %d IPs, %d API keys; keyless %.1f%%, routes %s, tiers %s%n",
                pool.requests(), pool.avgEncodedBytes(), pool.distinctOrgs(), pool.distinctIps(), pool.distinctApiKeys(),
                100.0 * pool.keyless() / pool.requests(), pool.byRoute(), pool.byTier()));
        b.append(String.format(Locale.ROOT, "measured %.2f s: sent %d, completed %d, throughput %.0f req/s%n", seconds, sent, completed, throughput));
        b.append(String.format(Locale.ROOT, "responses: OK %d (%.2f%%), OVER_LIMIT %d (%.2f%%), other code %d; errors %d %s; not completed %d; not sent %d%n",
                ok, pct(ok), overLimit, pct(overLimit), unknown, errorCount(), errors, notCompleted, notSent));
        b.append(String.format(Locale.ROOT, "latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f  (%d calls%s)%n",
                latency.p50(), latency.p90(), latency.p99(), latency.p999(), latency.max(), latency.mean(), latency.count(),
                rate > 0 ? ", from intended start times" : ""));
        if (sendLag != null) {
            b.append(String.format(Locale.ROOT, "send lag us: p50 %.1f  p99 %.1f  max %.1f  (time from intended start to hand-off to gRPC)%n",
                    sendLag.p50(), sendLag.p99(), sendLag.max()));
        }
        return b.toString();
    }

    /** The report as one JSON object. */
    public String toJson() {
        StringBuilder b = new StringBuilder(1024).append('{');
        field(b, "mode", mode).append(',');
        field(b, "target", target).append(',');
        b.append("\"rate\":").append(rate).append(",\"concurrency\":").append(concurrency)
                .append(",\"connections\":").append(connections).append(",\"seconds\":").append(num(seconds))
                .append(",\"sent\":").append(sent).append(",\"not_sent\":").append(notSent)
                .append(",\"completed\":").append(completed).append(",\"ok\":").append(ok)
                .append(",\"over_limit\":").append(overLimit).append(",\"unknown\":").append(unknown)
                .append(",\"errors\":{");
        boolean first = true;
        for (Map.Entry<String, Long> e : errors.entrySet()) {
            if (!first) {
                b.append(',');
            }
            first = false;
            b.append('"').append(e.getKey()).append("\":").append(e.getValue());
        }
        b.append("},\"not_completed\":").append(notCompleted).append(",\"throughput\":").append(num(throughput))
                .append(",\"latency_us\":{\"count\":").append(latency.count()).append(",\"mean\":").append(num(latency.mean()))
                .append(",\"p50\":").append(num(latency.p50())).append(",\"p90\":").append(num(latency.p90()))
                .append(",\"p99\":").append(num(latency.p99())).append(",\"p999\":").append(num(latency.p999()))
                .append(",\"max\":").append(num(latency.max())).append('}');
        if (sendLag != null) {
            b.append(",\"send_lag_us\":{\"p50\":").append(num(sendLag.p50())).append(",\"p99\":").append(num(sendLag.p99()))
                    .append(",\"max\":").append(num(sendLag.max())).append('}');
        }
        b.append(",\"pool\":{\"requests\":").append(pool.requests()).append(",\"keyless\":").append(pool.keyless())
                .append(",\"distinct_orgs\":").append(pool.distinctOrgs()).append(",\"distinct_ips\":").append(pool.distinctIps())
                .append(",\"distinct_api_keys\":").append(pool.distinctApiKeys())
                .append(",\"avg_encoded_bytes\":").append(num(pool.avgEncodedBytes())).append("}}");
        return b.toString();
    }

    private double pct(long n) {
        return completed == 0 ? 0 : 100.0 * n / completed;
    }

    private static StringBuilder field(StringBuilder b, String name, String value) {
        b.append('"').append(name).append("\":\"");
        for (char c : value.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\');
            }
            b.append(c);
        }
        return b.append('"');
    }

    private static String num(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }
}
