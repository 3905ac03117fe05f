package dev.ratelimit.store;

import dev.ratelimit.limiter.HeapStateBuffer;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.StateBuffer;
import dev.ratelimit.limiter.Verdict;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import net.openhft.chronicle.bytes.BytesStore;
import net.openhft.chronicle.bytes.RandomDataInput;
import net.openhft.chronicle.bytes.RandomDataOutput;
import net.openhft.chronicle.hash.ChronicleHashClosedException;
import net.openhft.chronicle.hash.Data;
import net.openhft.chronicle.map.ChronicleMap;
import net.openhft.chronicle.map.ChronicleMapBuilder;
import net.openhft.chronicle.map.ExternalMapQueryContext;
import net.openhft.chronicle.map.MapEntry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded store: limiter state in an off-heap Chronicle Map, in memory or persisted to a file so that a restart
 * (even after {@code kill -9}) keeps every counter. Each decision runs under the map's per-segment lock.
 *
 * <p>Over 250 lines because opening (sizing, recovery after a crash, the clean marker), the in-place decision with
 * its state resizing, and the sweep all depend on how this map lays out its entries; they are kept together.
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
   * @param averageValueBytes expected state size: a 60-slot sliding window takes 81, 142 or 264 bytes with 1-, 2- or
   *     4-byte counters (limits up to 255, up to 65,535, above)
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
      return new Settings(1_000_000, 48, 142, null);
    }
  }

  private final ChronicleMap<byte[], byte[]> map;
  private final ThreadLocal<OffHeapState> offHeapState = ThreadLocal.withInitial(OffHeapState::new);
  private final ThreadLocal<KeyBuffer> keyBuffers = ThreadLocal.withInitial(KeyBuffer::new);
  private final Path cleanMarker;

  /** @param cleanMarker for a persisted map, the marker written on close; null in memory */
  private ChronicleMapStore(ChronicleMap<byte[], byte[]> map, Path cleanMarker) {
    this.map = map;
    this.cleanMarker = cleanMarker;
  }

  /** Creates the map, or opens and recovers an existing data file (whatever sizing it was created with). */
  public static ChronicleMapStore open(Settings settings) throws IOException {
    Objects.requireNonNull(settings, "settings");
    ChronicleMapBuilder<byte[], byte[]> builder = ChronicleMapBuilder.of(byte[].class, byte[].class)
        .name("ratelimit-counters")
        .entries(settings.maxEntries())
        .averageKeySize(settings.averageKeyBytes())
        .averageValueSize(settings.averageValueBytes())
        .maxBloatFactor(1.0)
        // No entry checksums: a kill leaves the file's bytes as the process wrote them (they are in the page cache),
        // so a checksum would only make recovery drop an entry caught between its state and its checksum, losing
        // every hit of that key. Decisions write whole aligned words in place, expiry before counts.
        .checksumEntries(false)
        // Chronicle's own shutdown hook would close the map on SIGTERM while calls are still draining (and before the
        // clean marker is written); the server closes it itself once the drain is over.
        .skipCloseOnExitHook(true);
    if (settings.dataFile() == null) {
      return new ChronicleMapStore(builder.create(), null);
    }
    File file = settings.dataFile().toFile();
    Path cleanMarker = cleanMarkerOf(settings.dataFile());
    if (file.exists() && file.length() > 0) {
      if (Files.deleteIfExists(cleanMarker)) {
        return new ChronicleMapStore(builder.createPersistedTo(file), cleanMarker);
      }
      // No marker: the last process died without closing the map (e.g. kill -9). Recovery rebuilds the segments'
      // bookkeeping and releases the locks the dead process held; every entry keeps the state last written to it.
      log.warn("data file {} was not closed cleanly; recovering it", file);
      ChronicleMap<byte[], byte[]> map = builder.recoverPersistedTo(file, false);
      log.info("recovered {}: {} counters", file, map.longSize());
      return new ChronicleMapStore(map, cleanMarker);
    }
    File parent = file.getAbsoluteFile().getParentFile();
    if (parent != null && !parent.isDirectory() && !parent.mkdirs()) {
      throw new IOException("cannot create directory " + parent);
    }
    Files.deleteIfExists(cleanMarker);
    return new ChronicleMapStore(builder.createPersistedTo(file), cleanMarker);
  }

  /** The underlying map, for tests that simulate a crash in the middle of an update. */
  ChronicleMap<byte[], byte[]> map() {
    return map;
  }

  /** The file whose presence says the data file was closed cleanly and needs no recovery. */
  static Path cleanMarkerOf(Path dataFile) {
    return dataFile.resolveSibling(dataFile.getFileName() + ".clean");
  }

  /**
   * Runs the limiter directly on the entry's off-heap bytes under the segment's update lock: no copy of the state, no
   * allocation beyond the verdict. A new key is inserted only when the limiter recorded something; a state the limit
   * has outgrown is widened first ({@link Limiter#resize}), keeping its counts.
   */
  @Override
  public Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
    return onState(key, limiter, nowMillis, hits, limit, APPLY);
  }

  @Override
  public void refund(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
    onState(key, limiter, nowMillis, hits, limit, REFUND);
  }

  /** What {@link #onState} does to a key's state; the two instances below capture nothing, so a call allocates none. */
  private interface StateAction<R> {
    R run(Limiter limiter, StateBuffer state, long nowMillis, long hits, long limit);
  }

  private static final StateAction<Verdict> APPLY = Limiter::apply;
  private static final StateAction<Void> REFUND = (limiter, state, nowMillis, hits, limit) -> {
    limiter.refund(state, nowMillis, hits, limit);
    return null;
  };

  /** Runs {@code action} on the key's state, sized for {@code limit}, under the segment's update lock. */
  private <R> R onState(byte[] key, Limiter limiter, long nowMillis, long hits, long limit, StateAction<R> action) {
    try (ExternalMapQueryContext<byte[], byte[], ?> query = keyBuffers.get().query(map, key)) {
      query.updateLock().lock();
      MapEntry<byte[], byte[]> entry = query.entry();
      int stored = entry == null ? 0 : (int) entry.value().size();
      int size = limiter.stateSize(stored, limit);
      if (entry != null && stored == size && entry.value().bytes() instanceof RandomDataOutput<?> writable) {
        Data<byte[]> value = entry.value();
        return action.run(limiter, offHeapState.get().wrap(value.bytes(), writable, value.offset(), size), nowMillis,
            hits, limit);
      }
      byte[] state = new byte[size];
      if (entry != null) {
        byte[] old = entry.value().get();
        if (old.length == size) {
          state = old;
        } else {
          limiter.resize(new HeapStateBuffer(old), new HeapStateBuffer(state));
        }
      }
      R result = action.run(limiter, new HeapStateBuffer(state), nowMillis, hits, limit);
      if (entry != null) {
        entry.doReplaceValue(query.wrapValueAsData(state));
      } else if (HeapStateBuffer.expiresAt(state) != 0) {
        query.absentEntry().doInsert(query.wrapValueAsData(state));
      }
      return result;
    } catch (ChronicleHashClosedException e) {
      throw new StoreException(StoreException.Kind.UNAVAILABLE, "the counter map is closed", e);
    } catch (IllegalStateException e) {
      throw new StoreException(StoreException.Kind.FULL, "the counter map is full: " + firstLine(e), e);
    }
  }

  /**
   * The calling thread's key bytes, wrapped once: {@code queryContext(byte[])} wraps every key in a new reference-counted
   * {@link BytesStore}, which cost more than the lookup's hashing. Keys over 256 bytes (rare) take that path.
   */
  private static final class KeyBuffer {
    private final byte[] bytes = new byte[256];
    private final BytesStore<?, ?> store = BytesStore.wrap(bytes);

    ExternalMapQueryContext<byte[], byte[], ?> query(ChronicleMap<byte[], byte[]> map, byte[] key) {
      if (key.length > bytes.length) {
        return map.queryContext(key);
      }
      System.arraycopy(key, 0, bytes, 0, key.length);
      return map.queryContext(store, 0, key.length);
    }
  }

  /** A {@link StateBuffer} over an entry's bytes in the map, re-aimed for each call on the calling thread. */
  private static final class OffHeapState implements StateBuffer {
    private RandomDataInput in;
    private RandomDataOutput<?> out;
    private long base;
    private int size;

    OffHeapState wrap(RandomDataInput bytes, RandomDataOutput<?> writable, long offset, int size) {
      this.in = bytes;
      this.out = writable;
      this.base = offset;
      this.size = size;
      return this;
    }

    @Override
    public int size() {
      return size;
    }

    @Override
    public long getLong(int offset) {
      return in.readLong(base + offset);
    }

    @Override
    public void putLong(int offset, long value) {
      out.writeLong(base + offset, value);
    }

    @Override
    public int getInt(int offset) {
      return in.readInt(base + offset);
    }

    @Override
    public void putInt(int offset, int value) {
      out.writeInt(base + offset, value);
    }

    @Override
    public short getShort(int offset) {
      return in.readShort(base + offset);
    }

    @Override
    public void putShort(int offset, short value) {
      out.writeShort(base + offset, value);
    }

    @Override
    public byte getByte(int offset) {
      return in.readByte(base + offset);
    }

    @Override
    public void putByte(int offset, byte value) {
      out.writeByte(base + offset, value);
    }
  }

  @Override
  public <R> R update(byte[] key, StateUpdate<R> update, long nowMillis) {
    int size = update.stateSize();
    try (ExternalMapQueryContext<byte[], byte[], ?> query = map.queryContext(key)) {
      query.updateLock().lock();
      MapEntry<byte[], byte[]> entry = query.entry();
      byte[] old = entry == null ? null : entry.value().get();
      byte[] state = old != null && old.length == size ? old : new byte[size];
      R result = update.apply(new HeapStateBuffer(state), nowMillis);
      boolean keep = HeapStateBuffer.expiresAt(state) != 0;
      if (entry != null && keep) {
        entry.doReplaceValue(query.wrapValueAsData(state));
      } else if (entry != null) {
        entry.doRemove();
      } else if (keep) {
        query.absentEntry().doInsert(query.wrapValueAsData(state));
      }
      return result;
    } catch (ChronicleHashClosedException e) {
      throw new StoreException(StoreException.Kind.UNAVAILABLE, "the counter map is closed", e);
    } catch (IllegalStateException e) {
      throw new StoreException(StoreException.Kind.FULL, "the counter map is full: " + firstLine(e), e);
    }
  }

  /** Removes keys whose state expired at or before {@code nowMillis}; returns how many were removed. */
  public int sweepExpired(long nowMillis) {
    int[] removed = {0};
    try {
      map.forEachEntry(entry -> {
        // Read in place: copying every value to the heap made a sweep of 1M keys allocate ~150 MB.
        Data<byte[]> value = entry.value();
        long expiresAt = value.size() < Long.BYTES ? 0
            : value.bytes().readLong(value.offset() + StateBuffer.EXPIRES_AT);
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

  /** True until closed. */
  public boolean isOpen() {
    return map.isOpen();
  }

  @Override
  public long size() {
    return map.longSize();
  }

  /** Bytes of off-heap memory the map uses. */
  public long offHeapBytes() {
    return map.offHeapMemoryUsed();
  }

  /** Closes the map; a persisted one is marked clean so the next open skips recovery. */
  @Override
  public synchronized void close() {
    if (map.isOpen()) {
      map.close();
      if (cleanMarker != null) {
        try {
          Files.createFile(cleanMarker);
        } catch (IOException e) {
          log.warn("cannot mark {} as cleanly closed; the next start will recover it: {}", cleanMarker, e.toString());
        }
      }
    }
  }

  private static String firstLine(Exception e) {
    String message = String.valueOf(e.getMessage());
    int newline = message.indexOf('\n');
    return newline < 0 ? message : message.substring(0, newline);
  }
}
