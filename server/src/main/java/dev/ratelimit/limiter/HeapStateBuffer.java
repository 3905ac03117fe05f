package dev.ratelimit.limiter;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/** A {@link StateBuffer} over a byte array (little-endian), used by stores that copy state in and out. */
public final class HeapStateBuffer implements StateBuffer {
  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle INTS =
      MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
  private static final VarHandle SHORTS =
      MethodHandles.byteArrayViewVarHandle(short[].class, ByteOrder.LITTLE_ENDIAN);

  private final byte[] bytes;

  public HeapStateBuffer(byte[] bytes) {
    this.bytes = bytes;
  }

  /** Reads the expiry time of a serialized state without wrapping it. */
  public static long expiresAt(byte[] state) {
    return state.length < Long.BYTES ? 0 : (long) LONGS.get(state, EXPIRES_AT);
  }

  public byte[] bytes() {
    return bytes;
  }

  @Override
  public int size() {
    return bytes.length;
  }

  @Override
  public long getLong(int offset) {
    return (long) LONGS.get(bytes, offset);
  }

  @Override
  public void putLong(int offset, long value) {
    LONGS.set(bytes, offset, value);
  }

  @Override
  public int getInt(int offset) {
    return (int) INTS.get(bytes, offset);
  }

  @Override
  public void putInt(int offset, int value) {
    INTS.set(bytes, offset, value);
  }

  @Override
  public short getShort(int offset) {
    return (short) SHORTS.get(bytes, offset);
  }

  @Override
  public void putShort(int offset, short value) {
    SHORTS.set(bytes, offset, value);
  }

  @Override
  public byte getByte(int offset) {
    return bytes[offset];
  }

  @Override
  public void putByte(int offset, byte value) {
    bytes[offset] = value;
  }
}
