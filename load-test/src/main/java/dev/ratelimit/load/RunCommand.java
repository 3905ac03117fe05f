package dev.ratelimit.load;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/** {@code run}: sends load and prints the report. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = "Load a RateLimitService (open loop with --rate, closed loop with --concurrency) and report throughput and latency.")
public final class RunCommand implements Callable<Integer> {
    @Option(names = "--target", description = "host:port, loopback only unless --allow-remote (default: ${DEFAULT-VALUE}).")
    String target = "127.0.0.1:8081";

    @Option(names = "--allow-remote", description = "Allow a non-loopback target (only hosts you own).")
    boolean allowRemote;

    @Option(names = "--rate", description = "Open loop: requests per second on a fixed schedule (latencies corrected for coordinated omission).")
    long rate;

    @Option(names = "--concurrency", description = "Closed loop: calls in flight (default 64 when --rate is not given).")
    Integer concurrency;

    @Option(names = "--duration", converter = DurationConverter.class, defaultValue = "30s", description = "Measured phase length, e.g. 30s (default: ${DEFAULT-VALUE}; 0s = bound by --requests only).")
    Duration duration;

    @Option(names = "--requests", description = "Measured calls; the run stops at whichever of --duration/--requests comes first (default: no bound).")
    long requests;

    @Option(names = "--warmup", converter = DurationConverter.class, defaultValue = "5s", description = "Warm-up before measuring, results discarded (default: ${DEFAULT-VALUE}).")
    Duration warmup;

    @Option(names = "--connections", description = "HTTP/2 connections (default: ${DEFAULT-VALUE}).")
    int connections = 2;

    @Option(names = "--max-in-flight", description = "Open loop: cap on outstanding calls; waiting for a slot counts as latency (default: ${DEFAULT-VALUE}).")
    int maxInFlight = 1_000;

    @Option(names = "--timeout", converter = DurationConverter.class, defaultValue = "2s", description = "Deadline per call (default: ${DEFAULT-VALUE}).")
    Duration timeout;

    @Option(names = "--max-send-lag", converter = DurationConverter.class, defaultValue = "1ms",
            description = "Open loop: refuse the run (exit 3) when the generator's own send lag p99 exceeds this: its latencies"
                    + " would measure the generator, not the server (default: ${DEFAULT-VALUE}; 0s = never refuse).")
    Duration maxSendLag;

    @Option(names = "--pool-size", description = "Prebuilt requests, cycled; >= --ips to touch every IP (default: ${DEFAULT-VALUE}).")
    int poolSize = 1_000_000;

    @Option(names = "--json", description = "Print the report as JSON instead of text.")
    boolean json;

    @Option(names = "--json-out", description = "Also write the JSON report to this file.")
    Path jsonOut;

    @Mixin
    MixOptions mixOptions;

    PrintStream out = System.out;

    @Override
    public Integer call() throws Exception {
        if (rate > 0 && concurrency != null) {
            throw new IllegalArgumentException("give either --rate (open loop) or --concurrency (closed loop), not both");
        }
        RunSettings settings = new RunSettings(LoopbackGuard.resolve(target, allowRemote), rate,
                concurrency == null ? 64 : concurrency, duration, requests, warmup, connections, maxInFlight, timeout);
        TrafficMix mix = mixOptions.toMix();
        long t = System.nanoTime();
        RequestPool pool = RequestPool.build(mix, poolSize);
        System.err.printf("built %d requests in %d ms; warm-up %d ms, then measuring%n", pool.size(), (System.nanoTime() - t) / 1_000_000, warmup.toMillis());
        Report report;
        try (LoadRun run = new LoadRun(settings, pool)) {
            report = run.execute();
        }
        out.print(json ? report.toJson() + System.lineSeparator() : report.toText());
        if (jsonOut != null) {
            Files.writeString(jsonOut, report.toJson() + "\n", StandardCharsets.UTF_8);
        }
        if (report.notSent() > 0) {
            System.err.println("warning: " + report.notSent() + " scheduled calls were never sent: the server fell more than --timeout behind --rate");
        }
        if (report.completed() == 0) {
            return 2;
        }
        return refusal(report) == null ? 0 : 3;
    }

    /** Why an open-loop report does not measure the server (null when it does): calls never sent, or late sends. */
    String refusal(Report report) {
        if (report.sendLag() == null || maxSendLag.isZero()) {
            return null;
        }
        double limitUs = maxSendLag.toNanos() / 1_000.0;
        String reason = null;
        if (report.notSent() > 0) {
            reason = report.notSent() + " scheduled calls were never sent";
        } else if (report.sendLag().p99() > limitUs) {
            reason = String.format(java.util.Locale.ROOT, "send lag p99 %.0f us > --max-send-lag %.0f us", report.sendLag().p99(), limitUs);
        }
        if (reason != null) {
            System.err.println("REFUSED: this generator cannot drive " + report.rate() + " calls/s here (" + reason
                    + "); its latencies would measure the generator, not the server. Use a lower --rate, or h2load --rps.");
        }
        return reason;
    }
}
