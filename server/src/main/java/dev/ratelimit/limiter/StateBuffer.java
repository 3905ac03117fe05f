package dev.ratelimit.limiter;

/**
 * The per-key state of a limiter: a fixed number of bytes read and written at offsets. All zeroes means "no state
 * yet". Bytes 0..7 of every layout hold the time (epoch millis) after which the state may be dropped, so a sweeper can
 * evict idle keys without knowing their rule.
 */
public interface StateBuffer {
  /** Offset of the expiry time, common to every algorithm. */
  int EXPIRES_AT = 0;

  /** Bytes of state. */
  int size();

  long getLong(int offset);

  void putLong(int offset, long value);

  int getInt(int offset);

  void putInt(int offset, int value);

  short getShort(int offset);

  void putShort(int offset, short value);

  byte getByte(int offset);

  void putByte(int offset, byte value);
}
