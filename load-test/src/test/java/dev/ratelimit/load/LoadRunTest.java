package dev.ratelimit.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the generator against a real loopback gRPC server and checks that the report adds up. */
class LoadRunTest {
    private static final TrafficMix MIX = new TrafficMix(1_000, 5_000, 2, 0.2, 0.1, 0.05, 1.0,
            TrafficMix.parseTierWeights("free=60,developer=25,launch=10,pro=5"), "api", 7L);

    @Test
    @Timeout(30)
    void openLoopReportAddsUpAndMatchesWhatTheServerAnswered() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(7, 101)) {
            RunSettings settings = new RunSettings(server.address(), 2_000, 0, Duration.ofSeconds(2), 0,
                    Duration.ZERO, 2, 1_000, Duration.ofSeconds(2));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 10_000))) {
                report = run.execute();
            }
            // 2 s at 2000/s: the schedule has exactly 4000 calls in the measured window.
            assertEquals(4_000, report.sent());
            assertEquals(0, report.notSent());
            assertAddsUp(report, server);
            assertTrue(report.overLimit() > 0 && report.errors().getOrDefault("UNAVAILABLE", 0L) > 0, report.toText());
            assertTrue(report.throughput() > 1_500 && report.throughput() < 2_500, "throughput " + report.throughput());
        }
    }

    @Test
    @Timeout(30)
    void closedLoopStopsAtRequestBoundAndCountsEveryCall() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(5, 0)) {
            RunSettings settings = new RunSettings(server.address(), 0, 8, Duration.ofSeconds(10), 3_000,
                    Duration.ZERO, 1, 1_000, Duration.ofSeconds(2));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 10_000))) {
                report = run.execute();
            }
            assertEquals(3_000, report.sent());
            assertAddsUp(report, server);
            assertEquals(600, report.overLimit());
        }
    }

    @Test
    @Timeout(30)
    void warmupCallsAreNotCounted() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(0, 0)) {
            RunSettings settings = new RunSettings(server.address(), 1_000, 0, Duration.ofSeconds(1), 0,
                    Duration.ofMillis(500), 1, 1_000, Duration.ofSeconds(2));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 1_000))) {
                report = run.execute();
            }
            assertEquals(1_000, report.sent());
            assertEquals(1_500, server.received.get());
            assertEquals(1_000, report.ok());
        }
    }

    @Test
    @Timeout(30)
    void callsPastTheirDeadlineAreCountedOnceAsErrors() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(0, 0, 10, 600)) {
            RunSettings settings = new RunSettings(server.address(), 0, 16, Duration.ofSeconds(10), 500,
                    Duration.ZERO, 1, 1_000, Duration.ofMillis(200));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 1_000))) {
                report = run.execute();
            }
            assertEquals(500, report.sent());
            assertEquals(500, report.completed());
            assertEquals(0, report.notCompleted());
            assertEquals(server.slow.get(), report.errors().get("DEADLINE_EXCEEDED"));
            assertEquals(server.answeredOk.get(), report.ok());
            assertTrue(report.latency().max() >= 200_000, "timeouts are latencies too: " + report.latency());
        }
    }

    private static void assertAddsUp(Report report, FakeRateLimitServer server) {
        assertEquals(0, report.notCompleted(), report.toText());
        assertEquals(report.sent(), report.completed());
        assertEquals(report.completed(), report.ok() + report.overLimit() + report.unknown() + report.errorCount());
        assertEquals(server.received.get(), report.sent());
        assertEquals(server.answeredOk.get(), report.ok());
        assertEquals(server.answeredOver.get(), report.overLimit());
        assertEquals(server.failed.get(), report.errorCount());
        assertEquals(0, server.malformed.get());
        assertEquals(report.completed(), report.latency().count());
        assertTrue(report.latency().p50() > 0 && report.latency().p50() <= report.latency().p99()
                && report.latency().p99() <= report.latency().max());
    }
}
