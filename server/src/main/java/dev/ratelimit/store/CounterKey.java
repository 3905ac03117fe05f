package dev.ratelimit.store;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;

/**
 * Builds the store key of one counter: the state shape, the domain and the descriptor's entries, each string
 * length-prefixed so that no choice of keys and values can make two counters collide. Reusable per thread.
 *
 * <p>A key longer than the configured maximum is never refused (a refusal would be an error Envoy lets through): it
 * is stored as its <b>digest form</b>, the state shape, a marker, the SHA-256 of the whole key and then the key's first
 * bytes after the shape, readable in a dump. The marker ({@code FF FF FF FF 0F}, a varint length of 2^32 − 1) stands
 * where a plain key has the domain's length, which no plain key can have, so a digest form never equals a plain key,
 * and two long keys share a counter only if SHA-256 collides.
 */
public final class CounterKey {
  /** Smallest maximum: the digest form needs the shape, the marker and the digest. */
  public static final int MIN_MAX_BYTES = 64;
  private static final byte[] DIGEST_MARKER = {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 0x0F};
  private static final int SHAPE_BYTES = 4;
  private static final int DIGEST_BYTES = 32;

  private final int maxBytes;
  private final MessageDigest sha256;
  private byte[] buffer = new byte[256];
  private int length;

  public CounterKey(int maxBytes) {
    if (maxBytes < MIN_MAX_BYTES) {
      throw new IllegalArgumentException("the longest counter key must be at least " + MIN_MAX_BYTES + " bytes, not "
          + maxBytes);
    }
    this.maxBytes = maxBytes;
    try {
      this.sha256 = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every JVM", e);
    }
  }

  /** Starts a new key for a rule whose state has the given shape, in the given domain. */
  public CounterKey start(int stateShape, String domain) {
    length = 0;
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

  /** Bytes of the whole key so far (more than {@link #maxBytes()} when it will be stored in its digest form). */
  public int length() {
    return length;
  }

  public int maxBytes() {
    return maxBytes;
  }

  /** True when the key exceeds the maximum length and {@link #toBytes()} returns its digest form. */
  public boolean digested() {
    return length > maxBytes;
  }

  /** The key as stored: its bytes, or its digest form when it is longer than the maximum. */
  public byte[] toBytes() {
    if (!digested()) {
      return Arrays.copyOf(buffer, length);
    }
    int readable = Math.min(length - SHAPE_BYTES, maxBytes - SHAPE_BYTES - DIGEST_MARKER.length - DIGEST_BYTES);
    byte[] key = new byte[SHAPE_BYTES + DIGEST_MARKER.length + DIGEST_BYTES + readable];
    System.arraycopy(buffer, 0, key, 0, SHAPE_BYTES);
    System.arraycopy(DIGEST_MARKER, 0, key, SHAPE_BYTES, DIGEST_MARKER.length);
    sha256.reset();
    sha256.update(buffer, 0, length);
    System.arraycopy(sha256.digest(), 0, key, SHAPE_BYTES + DIGEST_MARKER.length, DIGEST_BYTES);
    System.arraycopy(buffer, SHAPE_BYTES, key, SHAPE_BYTES + DIGEST_MARKER.length + DIGEST_BYTES, readable);
    return key;
  }

  private void putString(CharSequence s) {
    int chars = s.length();
    boolean ascii = true;
    for (int i = 0; i < chars && ascii; i++) {
      ascii = s.charAt(i) < 0x80;
    }
    if (ascii) {
      putVarInt(chars);
      reserve(chars);
      for (int i = 0; i < chars; i++) {
        buffer[length++] = (byte) s.charAt(i);
      }
    } else {
      // Unpaired surrogates become '?', as String.getBytes does: such values share a counter rather than fail.
      byte[] utf8 = s.toString().getBytes(StandardCharsets.UTF_8);
      putVarInt(utf8.length);
      reserve(utf8.length);
      System.arraycopy(utf8, 0, buffer, length, utf8.length);
      length += utf8.length;
    }
  }

  private void putInt(int v) {
    reserve(4);
    buffer[length++] = (byte) v;
    buffer[length++] = (byte) (v >>> 8);
    buffer[length++] = (byte) (v >>> 16);
    buffer[length++] = (byte) (v >>> 24);
  }

  private void putVarInt(int v) {
    reserve(5);
    while ((v & ~0x7F) != 0) {
      buffer[length++] = (byte) ((v & 0x7F) | 0x80);
      v >>>= 7;
    }
    buffer[length++] = (byte) v;
  }

  /** Makes room for {@code n} more bytes. The whole key is kept, however long, so that its digest covers all of it. */
  private void reserve(int n) {
    if (length + n > buffer.length) {
      buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + n));
    }
  }
}
