package dev.ratelimit.store;

import dev.ratelimit.limiter.HeapStateBuffer;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.Verdict;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import net.openhft.chronicle.hash.ChronicleHashClosedException;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded store: limiter state in an off-heap Chronicle Map, in memory or persisted to a file so that a restart
 * (even after {@code kill -9}) keeps every counter. Each decision runs under the map's per-segment lock.
 */
public final class ChronicleMapStore implements CounterStore {
  private static final Logger log = LoggerFactory.getLogger(ChronicleMapStore.class);

  static {
    // Chronicle libraries otherwise phone home to an analytics service on first use; a rate limiter must not.
    if (System.getProperty("chronicle.analytics.disable") == null) {
      System.setProperty("chronicle.analytics.disable", "true");
    }
  }

  /**
   * Sizing and location of the map.
   *
   * @param maxEntries keys the map is sized for; beyond that new keys are refused ({@link StoreException.Kind#FULL})
   * @param averageKeyBytes expected key size
   * @param averageValueBytes expected state size (a 60-slot sliding window takes 260 bytes)
   * @param dataFile file to persist to, or null for memory only
   */
  public record Settings(long maxEntries, int averageKeyBytes, int averageValueBytes, Path dataFile) {
    public Settings {
      if (maxEntries < 1) {
        throw new IllegalArgumentException("max entries must be at least 1, not " + maxEntries);
      }
      if (averageKeyBytes < 1 || averageValueBytes < 1) {
        throw new IllegalArgumentException("average key and value sizes must be at least 1 byte");
      }
    }

    /** Sized for one million keys, in memory. */
    public static Settings defaults() {
      return new Settings(1_000_000, 48, 260, null);
    }
  }

  private final ChronicleMap<byte[], byte[]> map;

  private ChronicleMapStore(ChronicleMap<byte[], byte[]> map) {
    this.map = map;
  }

  /** Creates the map, or opens and recovers an existing data file (whatever sizing it was created with). */
  public static ChronicleMapStore open(Settings settings) throws IOException {
    Objects.requireNonNull(settings, "settings");
    ChronicleMapBuilder<byte[], byte[]> builder = ChronicleMapBuilder.of(byte[].class, byte[].class)
        .name("ratelimit-counters")
        .entries(settings.maxEntries())
        .averageKeySize(settings.averageKeyBytes())
        .averageValueSize(settings.averageValueBytes())
        .maxBloatFactor(1.0);
    if (settings.dataFile() == null) {
      return new ChronicleMapStore(builder.create());
    }
    File file = settings.dataFile().toFile();
    if (file.exists() && file.length() > 0) {
      // Recovery rebuilds segment state left inconsistent by a crash; on a cleanly closed file it is a no-op scan.
      return new ChronicleMapStore(builder.recoverPersistedTo(file, false));
    }
    File parent = file.getAbsoluteFile().getParentFile();
    if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
      throw new IOException("cannot create directory " + parent);
    }
    return new ChronicleMapStore(builder.createPersistedTo(file));
  }

  @Override
  public Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
    Verdict[] verdict = new Verdict[1];
    try {
      map.compute(key, (k, stored) -> {
        boolean fresh = stored == null || stored.length != limiter.stateSize();
        byte[] state = fresh ? new byte[limiter.stateSize()] : stored;
        verdict[0] = limiter.apply(new HeapStateBuffer(state), nowMillis, hits, limit);
        // A new key that recorded nothing (rejected or read-only) is not inserted.
        return fresh && stored == null && HeapStateBuffer.expiresAt(state) == 0 ? null : state;
      });
    } catch (ChronicleHashClosedException e) {
      throw new StoreException(StoreException.Kind.UNAVAILABLE, "the counter map is closed", e);
    } catch (IllegalStateException e) {
      throw new StoreException(StoreException.Kind.FULL, "the counter map is full: " + firstLine(e), e);
    }
    return verdict[0];
  }

  @Override
  public int sweepExpired(long nowMillis) {
    int[] removed = {0};
    try {
      map.forEachEntry(entry -> {
        long expiresAt = HeapStateBuffer.expiresAt(entry.value().get());
        if (expiresAt <= nowMillis) {
          entry.doRemove();
          removed[0]++;
        }
      });
    } catch (ChronicleHashClosedException e) {
      log.debug("sweep skipped: map closed");
    }
    return removed[0];
  }

  @Override
  public long size() {
    return map.longSize();
  }

  @Override
  public long offHeapBytes() {
    return map.offHeapMemoryUsed();
  }

  @Override
  public void close() {
    map.close();
  }

  private static String firstLine(Exception e) {
    String message = String.valueOf(e.getMessage());
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }
}
