package dev.ratelimit.store;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import net.openhft.chronicle.bytes.RandomDataInput;

/**
 * Makes in-place updates of a persisted map safe against the process being killed mid-update.
 *
 * <p>Chronicle Map checksums every entry of a persisted map and its recovery drops an entry whose checksum does not
 * match. An in-place update writes the new state first and the checksum last, so a {@code kill -9} between the two
 * would lose the key's whole window, including hits that were acknowledged long before. Before a thread changes an
 * existing entry it copies the key and the old state into its own slot of this small memory-mapped file and arms the
 * slot; once the entry and its checksum are written it disarms the slot. After an unclean stop, {@link #pending()}
 * returns the armed slots, and the store puts back the old state of each key that recovery dropped. The old state
 * holds every acknowledged hit (a reply is sent only after the update completes), so nothing acknowledged is lost.
 *
 * <p>A killed process's stores to a shared mapping stay in the page cache, so this protects against process crashes,
 * not against the machine losing power (nothing short of an fsync per decision would). Each thread owns one slot and
 * writes it under the map's segment lock; threads beyond the slot count share a last slot under a lock.
 */
final class UndoJournal implements AutoCloseable {
  /** Bytes of one slot: an 8-byte armed word, 4-byte key and state lengths, then key and state. */
  static final int SLOT_BYTES = 4096;
  private static final int HEADER = 16;
  private static final long ARMED = 1L;
  private static final VarHandle LONGS =
      MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

  /** One armed slot found after an unclean stop: a key and the state it had before the interrupted update. */
  record Pending(byte[] key, byte[] oldState) {
  }

  private final FileChannel channel;
  private final MappedByteBuffer buffer;
  private final int slots;
  private final AtomicInteger nextSlot = new AtomicInteger();
  private final ThreadLocal<Integer> ownSlot;
  private final ReentrantLock sharedSlot = new ReentrantLock();

  private UndoJournal(FileChannel channel, MappedByteBuffer buffer, int slots) {
    this.channel = channel;
    this.buffer = buffer;
    this.slots = slots;
    this.ownSlot = ThreadLocal.withInitial(() -> {
      int slot = nextSlot.getAndIncrement();
      return slot < slots - 1 ? slot : slots - 1;
    });
  }

  /** The journal file next to a data file. */
  static Path fileOf(Path dataFile) {
    return dataFile.resolveSibling(dataFile.getFileName() + ".undo");
  }

  /** Opens (creating if needed) a journal with room for {@code slots} threads. */
  static UndoJournal open(Path file, int slots) throws IOException {
    if (slots < 2) {
      throw new IllegalArgumentException("an undo journal needs at least 2 slots");
    }
    FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
        StandardOpenOption.WRITE);
    try {
      long size = (long) slots * SLOT_BYTES;
      MappedByteBuffer buffer = channel.map(FileChannel.MapMode.READ_WRITE, 0, Math.max(size, channel.size()));
      // The state is copied eight bytes at a time as Chronicle reads it (native order) and restored as raw bytes.
      buffer.order(ByteOrder.nativeOrder());
      int available = (int) Math.min(Integer.MAX_VALUE / SLOT_BYTES, buffer.capacity() / SLOT_BYTES);
      return new UndoJournal(channel, buffer, Math.max(slots, available));
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
  }

  /** The largest key this journal can protect together with a state of {@code stateBytes}. */
  static int maxKeyBytes(int stateBytes) {
    return SLOT_BYTES - HEADER - stateBytes;
  }

  /** The armed slots: updates that a crash interrupted. */
  List<Pending> pending() {
    List<Pending> pending = new ArrayList<>();
    for (int slot = 0; slot < slots; slot++) {
      int base = slot * SLOT_BYTES;
      if ((long) LONGS.getVolatile(buffer, base) == 0) {
        continue;
      }
      int keyLength = buffer.getInt(base + 8);
      int stateLength = buffer.getInt(base + 12);
      if (keyLength <= 0 || stateLength <= 0 || (long) HEADER + keyLength + stateLength > SLOT_BYTES) {
        continue; // cannot happen for a slot armed by this class; ignore rather than trust it
      }
      byte[] key = new byte[keyLength];
      byte[] state = new byte[stateLength];
      buffer.get(base + HEADER, key);
      buffer.get(base + HEADER + keyLength, state);
      pending.add(new Pending(key, state));
    }
    return pending;
  }

  /** Disarms every slot (after the pending updates were resolved). */
  void clear() {
    for (int slot = 0; slot < slots; slot++) {
      LONGS.setRelease(buffer, slot * SLOT_BYTES, 0L);
    }
    buffer.force();
  }

  /**
   * Records {@code key} and its current state ({@code size} bytes at {@code offset} of {@code state}) before the
   * caller changes it, and returns a token for {@link #disarm}; -1 when the key is too long to record (the update is
   * then unprotected). Must be called under the entry's update lock.
   */
  int arm(byte[] key, RandomDataInput state, long offset, int size) {
    if (HEADER + key.length + size > SLOT_BYTES) {
      return -1;
    }
    int slot = ownSlot.get();
    if (slot == slots - 1) {
      sharedSlot.lock();
    }
    int base = slot * SLOT_BYTES;
    buffer.putInt(base + 8, key.length);
    buffer.putInt(base + 12, size);
    buffer.put(base + HEADER, key);
    int at = base + HEADER + key.length;
    int i = 0;
    for (; i + Long.BYTES <= size; i += Long.BYTES) {
      buffer.putLong(at + i, state.readLong(offset + i));
    }
    for (; i < size; i++) {
      buffer.put(at + i, state.readByte(offset + i));
    }
    // Release: the key and state are in place before the slot reads as armed. Full fence: the entry's own writes,
    // which follow, cannot be reordered before the arming.
    LONGS.setRelease(buffer, base, ARMED);
    VarHandle.fullFence();
    return slot;
  }

  /** Same as {@link #arm(byte[], RandomDataInput, long, int)} for a state held on the heap. */
  int arm(byte[] key, byte[] state) {
    if (HEADER + key.length + state.length > SLOT_BYTES) {
      return -1;
    }
    int slot = ownSlot.get();
    if (slot == slots - 1) {
      sharedSlot.lock();
    }
    int base = slot * SLOT_BYTES;
    buffer.putInt(base + 8, key.length);
    buffer.putInt(base + 12, state.length);
    buffer.put(base + HEADER, key);
    buffer.put(base + HEADER + key.length, state);
    LONGS.setRelease(buffer, base, ARMED);
    VarHandle.fullFence();
    return slot;
  }

  /** Marks the update of {@code token} complete: the entry and its checksum are written. */
  void disarm(int token) {
    if (token < 0) {
      return;
    }
    VarHandle.fullFence();
    LONGS.setRelease(buffer, token * SLOT_BYTES, 0L);
    if (token == slots - 1) {
      sharedSlot.unlock();
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
