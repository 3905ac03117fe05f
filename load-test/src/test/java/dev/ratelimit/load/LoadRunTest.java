package dev.ratelimit.load;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs the generator against a real loopback gRPC server and checks that the report adds up. Assertions are on counts,
 * never on rates or latencies measured on the wall clock: the machine may be busy. Deadlines of answered calls are
 * generous (a loopback call answered at once does not take seconds, however loaded the machine), so only the calls
 * the fake server never answers can pass them.
 */
class LoadRunTest {
    private static final TrafficMix MIX = new TrafficMix(1_000, 5_000, 2, 0.2, 0.1, 0.05, 1.0,
            TrafficMix.parseTierWeights("free=60,developer=25,launch=10,pro=5"), "api", 7L);

    @Test
    @Timeout(30)
    void openLoopReportAddsUpAndMatchesWhatTheServerAnswered() throws Exception {
        try (FakeRateLimitServer server = new FakeRateLimitServer(7, 101)) {
            RunSettings settings = new RunSettings(server.address(), 2_000, 0, Duration.ofSeconds(2), 0,
                    Duration.ZERO, 2, 1_000, Duration.ofSeconds(5));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 10_000))) {
                report = run.execute();
            }
            // 2 s at 2000/s: the schedule has exactly 4000 calls in the measured window.
            assertEquals(4_000, report.sent());
            assertEquals(0, report.notSent());
            assertAddsUp(report, server);
            // The fake answers by arrival number: of calls 1..4000, every 101st fails, every other 7th is over the limit.
            assertEquals(4_000 / 101, report.errors().get("UNAVAILABLE"), report.toText());
            assertEquals(4_000 / 7 - 4_000 / (7 * 101), report.overLimit(), report.toText());
            // Throughput is what completed over the measured time, which cannot be shorter than the schedule: the
            // last of 4000 calls at 2000/s is not sent before 3999/2000 s, so no more than 2000/s plus one call.
            assertTrue(report.seconds() >= 3_999 / 2_000.0, report.toText());
            assertEquals(report.completed() / report.seconds(), report.throughput(), 1e-9);
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
        // Every 10th call is never answered and ends at its deadline; the others are answered at once, far within it.
        try (FakeRateLimitServer server = new FakeRateLimitServer(0, 0, 10)) {
            RunSettings settings = new RunSettings(server.address(), 0, 16, Duration.ofSeconds(20), 160,
                    Duration.ZERO, 1, 1_000, Duration.ofSeconds(2));
            Report report;
            try (LoadRun run = new LoadRun(settings, RequestPool.build(MIX, 1_000))) {
                report = run.execute();
            }
            assertEquals(160, report.sent());
            assertEquals(160, report.completed());
            assertEquals(0, report.notCompleted());
            assertEquals(160, server.received.get());
            assertEquals(16, server.silent.get());
            assertEquals(16, report.errors().get("DEADLINE_EXCEEDED"), report.toText());
            assertEquals(1, report.errors().size(), report.toText());
            assertEquals(144, server.answeredOk.get());
            assertEquals(144, report.ok());
            assertTrue(report.latency().max() >= 2_000_000, "timeouts are latencies too: " + report.latency());
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
