package dev.ratelimit.store;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Builds the store key of one counter: the state shape, the domain and the descriptor's entries, each string
 * length-prefixed so that no choice of keys and values can make two counters collide. Reusable per thread; keys
 * longer than the configured maximum are refused rather than stored.
 */
public final class CounterKey {
  private final int maxBytes;
  private byte[] buffer = new byte[256];
  private int length;
  private boolean overflow;

  public CounterKey(int maxBytes) {
    this.maxBytes = maxBytes;
  }

  /** Starts a new key for a rule whose state has the given shape, in the given domain. */
  public CounterKey start(int stateShape, String domain) {
    length = 0;
    overflow = false;
    putInt(stateShape);
    putString(domain);
    return this;
  }

  /** Appends one descriptor entry; the value may be a reused buffer (e.g. a normalised client address). */
  public CounterKey add(String key, CharSequence value) {
    putString(key);
    putString(value);
    return this;
  }

  /** Bytes written so far (more than {@link #maxBytes()} when the key is too long). */
  public int length() {
    return length;
  }

  public int maxBytes() {
    return maxBytes;
  }

  /** True when the key exceeds the maximum length and must not be stored. */
  public boolean tooLong() {
    return overflow;
  }

  /** A copy of the key's bytes. */
  public byte[] toBytes() {
    if (overflow) {
      throw new IllegalStateException("key of " + length + " bytes exceeds the maximum of " + maxBytes);
    }
    return Arrays.copyOf(buffer, length);
  }

  private void putString(CharSequence s) {
    int chars = s.length();
    // Worst case 3 bytes per UTF-16 unit; encode directly when ASCII, the common case.
    boolean ascii = true;
    for (int i = 0; i < chars && ascii; i++) {
      ascii = s.charAt(i) < 0x80;
    }
    if (ascii) {
      putVarInt(chars);
      if (!reserve(chars)) {
        return;
      }
      for (int i = 0; i < chars; i++) {
        buffer[length++] = (byte) s.charAt(i);
      }
    } else {
      byte[] utf8 = s.toString().getBytes(StandardCharsets.UTF_8);
      putVarInt(utf8.length);
      if (reserve(utf8.length)) {
        System.arraycopy(utf8, 0, buffer, length, utf8.length);
        length += utf8.length;
      }
    }
  }

  private void putInt(int v) {
    if (reserve(4)) {
      buffer[length++] = (byte) v;
      buffer[length++] = (byte) (v >>> 8);
      buffer[length++] = (byte) (v >>> 16);
      buffer[length++] = (byte) (v >>> 24);
    }
  }

  private void putVarInt(int v) {
    while (reserve(1)) {
      if ((v & ~0x7F) == 0) {
        buffer[length++] = (byte) v;
        return;
      }
      buffer[length++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
  }

  /** Makes room for {@code n} more bytes; false (and marks the key too long) past the maximum. */
  private boolean reserve(int n) {
    if (overflow || length + n > maxBytes) {
      overflow = true;
      length += n;
      return false;
    }
    if (length + n > buffer.length) {
      buffer = Arrays.copyOf(buffer, Math.min(maxBytes, Math.max(buffer.length * 2, length + n)));
    }
    return true;
  }
}
