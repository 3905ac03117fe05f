package dev.ratelimit.load;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An open-loop run whose generator fell behind its schedule is refused, not reported as the server's latency. */
class RunCommandTest {
    private static Report openLoop(long notSent, double sendLagP99Us) {
        LatencySummary latency = new LatencySummary(1000, 50, 40, 60, 90, 120, 200);
        LatencySummary lag = new LatencySummary(1000, 5, 3, 8, sendLagP99Us, sendLagP99Us, sendLagP99Us);
        PoolStats pool = new PoolStats(10, 2, Map.of(), Map.of(), 5, 10, 8, 150);
        return new Report("open", "127.0.0.1:1", 50_000, 0, 2, 1.0, 1000, notSent, 1000, 1000, 0, 0, Map.of(), 0, 1000,
                latency, lag, pool);
    }

    private static RunCommand withLimit(Duration limit) {
        RunCommand command = new RunCommand();
        command.maxSendLag = limit;
        return command;
    }

    @Test
    void refusesLateSendsAndUnsentCalls() {
        RunCommand command = withLimit(Duration.ofMillis(1));
        assertNull(command.refusal(openLoop(0, 999)));
        assertTrue(command.refusal(openLoop(0, 1001)).contains("send lag p99 1001 us > --max-send-lag 1000 us"));
        assertEquals("7 scheduled calls were never sent", command.refusal(openLoop(7, 10)));
    }

    @Test
    void zeroLimitAndClosedLoopNeverRefuse() {
        assertNull(withLimit(Duration.ZERO).refusal(openLoop(7, 5_000)));
        Report closed = openLoop(0, 5_000);
        Report noLag = new Report("closed", closed.target(), 0, 64, 2, 1.0, 1000, 0, 1000, 1000, 0, 0, Map.of(), 0, 1000,
                closed.latency(), null, closed.pool());
        assertNull(withLimit(Duration.ofMillis(1)).refusal(noLag));
    }
}
