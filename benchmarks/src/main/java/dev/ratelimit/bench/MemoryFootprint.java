package dev.ratelimit.bench;

import dev.ratelimit.load.RequestGenerator;
import dev.ratelimit.load.TrafficMix;
import dev.ratelimit.engine.RateLimitEngine;
import dev.ratelimit.store.ChronicleMapStore;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Memory with N active keys: drives the engine with the load generator's default mix (100k orgs, 1M IPs) until the
 * store holds {@code target} keys, printing at each step the keys held, Chronicle Map's {@code offHeapMemoryUsed()},
 * the process RSS and the heap used after a full GC. The store is sized like the server's defaults unless
 * {@code --max-entries} says otherwise. Usage:
 * {@code java -cp benchmarks.jar <jvm.opens> dev.ratelimit.bench.MemoryFootprint [target] [maxEntries]}.
 */
public final class MemoryFootprint {
    private MemoryFootprint() {
    }

    /** Runs the measurement. */
    public static void main(String[] args) throws Exception {
        long target = args.length > 0 ? Long.parseLong(args[0]) : 1_000_000;
        long maxEntries = args.length > 1 ? Long.parseLong(args[1]) : ChronicleMapStore.Settings.defaults().maxEntries();
        ChronicleMapStore.Settings d = ChronicleMapStore.Settings.defaults();
        try (ChronicleMapStore store = ChronicleMapStore.open(
                new ChronicleMapStore.Settings(maxEntries, d.averageKeyBytes(), d.averageValueBytes(), null))) {
            RateLimitEngine engine = Fixtures.engine(Fixtures.defaultPolicy(), store);
            RequestGenerator generator = new RequestGenerator(TrafficMix.defaults());
            System.out.printf(Locale.ROOT, "store sized for %d entries (avg key %d B, value %d B)%n", maxEntries,
                    d.averageKeyBytes(), d.averageValueBytes());
            System.out.println("keys      requests   offHeapMemoryUsed_MB  RSS_MB  heapAfterGC_MB");
            report(store, 0);
            long requests = 0;
            long step = Math.max(1, target / 5);
            long nextReport = step;
            long t0 = System.nanoTime();
            while (store.size() < target) {
                engine.shouldRateLimit(generator.next());
                requests++;
                if (store.size() >= nextReport) {
                    report(store, requests);
                    nextReport += step;
                }
                if (requests > 10 * target) {
                    throw new IllegalStateException("store stopped growing at " + store.size() + " keys (full?)");
                }
            }
            report(store, requests);
            System.out.printf(Locale.ROOT, "%d requests in %.1f s%n", requests, (System.nanoTime() - t0) / 1e9);
        }
    }

    private static void report(ChronicleMapStore store, long requests) throws IOException {
        for (int i = 0; i < 3; i++) {
            System.gc();
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
        System.out.printf(Locale.ROOT, "%-9d %-10d %-21.1f %-7.1f %.1f%n", store.size(), requests,
                store.offHeapBytes() / 1e6, rssBytes() / 1e6, heap / 1e6);
    }

    /** Resident set size from /proc (Linux); -1 elsewhere. */
    static long rssBytes() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.exists(status)) {
            return -1;
        }
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }
}
