package dev.ratelimit.bench;

import dev.ratelimit.limiter.HeapStateBuffer;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.load.Ids;
import dev.ratelimit.store.ChronicleMapStore;
import dev.ratelimit.store.CounterKey;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The sliding-window decision on the Chronicle Map store: {@code ChronicleMapStore.apply} with the default policy's
 * {@code pro} rule (9000/min, 60 s window, 60 slots), over {@code keys} distinct pre-filled counters visited in turn,
 * and the limiter alone on a heap buffer for comparison. Keys are built exactly as the engine builds them.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class SlidingWindowStoreBenchmark {
    @Param({"10000", "1000000"})
    int keys;

    private ChronicleMapStore store;
    private Limiter limiter;
    private byte[][] counterKeys;
    private byte[] heapState;
    private int next;

    @Setup(Level.Trial)
    public void setUp() {
        limiter = Fixtures.defaultPolicy().get().domain("api").rulesById().values().stream()
                .filter(r -> r.name().equals("pro")).findFirst().orElseThrow().limiter();
        store = Fixtures.defaultStore();
        counterKeys = new byte[keys][];
        CounterKey key = new CounterKey(1024);
        long now = System.currentTimeMillis();
        for (int i = 0; i < keys; i++) {
            counterKeys[i] = key.start(limiter.stateShape(), "api").add("tier", "pro").add("org", Ids.org(i)).toBytes();
            store.apply(counterKeys[i], limiter, now, 1, Long.MAX_VALUE);
        }
        if (store.size() != keys) {
            throw new IllegalStateException("store holds " + store.size() + " keys, expected " + keys);
        }
        heapState = new byte[limiter.stateSize(0, 9_000)];
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        store.close();
    }

    private byte[] nextKey() {
        byte[] k = counterKeys[next];
        next = next + 1 == counterKeys.length ? 0 : next + 1;
        return k;
    }

    /** Admitted hit: read-modify-write of the key's state (138 bytes: 61 two-byte slot counters) under the segment lock. */
    @Benchmark
    @BenchmarkMode({Mode.AverageTime, Mode.SampleTime})
    public Verdict decideAdmitted() {
        return store.apply(nextKey(), limiter, System.currentTimeMillis(), 1, Long.MAX_VALUE);
    }

    /** Rejected hit (limit 0): the state is read and the window summed, nothing is recorded. */
    @Benchmark
    public Verdict decideRejected() {
        return store.apply(nextKey(), limiter, System.currentTimeMillis(), 1, 0);
    }

    /** The sliding-window algorithm alone on one heap buffer: what the map adds is the difference. */
    @Benchmark
    public Verdict limiterOnly() {
        return limiter.apply(new HeapStateBuffer(heapState), System.currentTimeMillis(), 1, Long.MAX_VALUE);
    }
}
