package dev.ratelimit.load;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Only loopback targets unless --allow-remote (IP literals: no DNS lookups in these tests). */
class LoopbackGuardTest {
    @Test
    void acceptsLoopbackTargets() {
        assertTrue(LoopbackGuard.resolve("127.0.0.1:8081", false).getAddress().isLoopbackAddress());
        assertEquals(8081, LoopbackGuard.resolve("[::1]:8081", false).getPort());
        assertTrue(LoopbackGuard.resolve("127.0.0.2:9000", false).getAddress().isLoopbackAddress());
    }

    @Test
    void refusesRemoteTargetsWithoutTheFlag() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("10.1.2.3:8081", false));
        assertTrue(e.getMessage().contains("--allow-remote"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("[2001:db8::1]:8081", false));
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("0.0.0.0:8081", false));
        assertEquals(8081, LoopbackGuard.resolve("10.1.2.3:8081", true).getPort());
    }

    @Test
    void rejectsMalformedTargets() {
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("127.0.0.1", false));
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("127.0.0.1:0", false));
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("127.0.0.1:http", false));
        assertThrows(IllegalArgumentException.class, () -> LoopbackGuard.resolve("::1:8081", false));
    }
}
