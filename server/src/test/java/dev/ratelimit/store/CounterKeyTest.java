package dev.ratelimit.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The store key of a counter (docs/algorithms.md): length-prefixed parts, and a digest form for keys over the maximum. */
class CounterKeyTest {
  private static final int SHAPE = 0x0A0B0C0D;

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void aKeyIsTheShapeThenEveryStringLengthPrefixed() {
    byte[] key = new CounterKey(64).start(SHAPE, "d").add("k", "v").toBytes();
    assertArrayEquals(new byte[] {0x0D, 0x0C, 0x0B, 0x0A, 1, 'd', 1, 'k', 1, 'v'}, key, "little-endian shape");
  }

  @Test
  void lengthsAreVarIntsAndNonAsciiIsUtf8() {
    String value = "x".repeat(200);
    byte[] key = new CounterKey(1024).start(SHAPE, "").add("é", value).toBytes();
    byte[] expected = concat(new byte[] {0x0D, 0x0C, 0x0B, 0x0A, 0, 2, (byte) 0xC3, (byte) 0xA9, (byte) 0xC8, 0x01},
        ascii(value));
    assertArrayEquals(expected, key, "200 = 0xC8 0x01 as a varint; é is two UTF-8 bytes");
  }

  @Test
  void noChoiceOfKeysAndValuesMakesTwoCountersCollide() {
    CounterKey key = new CounterKey(64);
    byte[] abC = key.start(SHAPE, "d").add("ab", "c").toBytes();
    byte[] aBc = key.start(SHAPE, "d").add("a", "bc").toBytes();
    byte[] otherShape = key.start(SHAPE + 1, "d").add("ab", "c").toBytes();
    assertFalse(Arrays.equals(abC, aBc));
    assertFalse(Arrays.equals(abC, otherShape), "another algorithm or window: another counter");
    assertArrayEquals(abC, key.start(SHAPE, "d").add("ab", "c").toBytes(), "start() begins a new key");
  }

  @Test
  void aKeyOfExactlyTheMaximumIsStoredAsItIs() {
    CounterKey key = new CounterKey(64).start(SHAPE, "d").add("k", "v".repeat(64 - 10 + 1));
    assertEquals(64, key.length());
    assertFalse(key.digested());
    assertEquals(64, key.toBytes().length);
  }

  @Test
  void aLongerKeyIsStoredAsShapeMarkerDigestAndItsFirstBytes() throws Exception {
    String value = "v".repeat(1_000); // far beyond the first buffer: the digest covers the whole key
    CounterKey key = new CounterKey(64).start(SHAPE, "domain").add("k", value);
    assertTrue(key.digested());
    byte[] whole = concat(new byte[] {0x0D, 0x0C, 0x0B, 0x0A, 6}, ascii("domain"), new byte[] {1, 'k', (byte) 0xE8, 0x07},
        ascii(value));
    assertEquals(whole.length, key.length());
    byte[] stored = key.toBytes();
    assertEquals(64, stored.length, "the digest form fills the maximum exactly");
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(whole);
    byte[] readable = Arrays.copyOfRange(whole, 4, 4 + 64 - 4 - 5 - 32);
    assertArrayEquals(concat(Arrays.copyOf(whole, 4), new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF,
        0x0F}, digest, readable), stored);
    byte[] otherLast = new CounterKey(64).start(SHAPE, "domain").add("k", value.substring(1) + "w").toBytes();
    assertFalse(Arrays.equals(stored, otherLast), "keys differing in their last byte have their own counters");
  }

  @Test
  void theMaximumMustHoldTheDigestForm() {
    assertThrows(IllegalArgumentException.class, () -> new CounterKey(CounterKey.MIN_MAX_BYTES - 1));
    assertEquals(64, new CounterKey(CounterKey.MIN_MAX_BYTES).maxBytes());
  }
}
