package dev.ratelimit.engine;

/**
 * A parsed IPv4 or IPv6 address, reusable per thread: {@link #parse} reads text without allocating and without any
 * name lookup (unlike {@code InetAddress.getByName}, which resolves anything that is not a literal), and
 * {@link #canonical()} and {@link #network} write normalised text into a buffer owned by this object.
 *
 * <p>Accepted: dotted-quad IPv4 with decimal octets and no leading zeros (so {@code 010.1.1.1}, octal to some
 * parsers, is refused), and IPv6 text per RFC 4291 §2.2, including {@code ::} and a trailing dotted quad. Refused:
 * zone ids ({@code fe80::1%eth0}), brackets, ports, prefixes, whitespace. IPv4-mapped addresses
 * ({@code ::ffff:192.0.2.1}) and the NAT64 well-known prefix ({@code 64:ff9b::192.0.2.1}, RFC 6052) are the IPv4
 * client they carry. IPv6 text is written per RFC 5952 (lower case, no leading zeros, the longest run of two or more
 * zero groups as {@code ::}).
 *
 * <p>Over 250 lines because an allocation-free parser and writer of both address families is one piece: splitting
 * IPv4 from IPv6 would split the mapped and NAT64 forms that join them.
 */
public final class ClientAddress {
  private static final long MAPPED_V4 = 0x0000_FFFFL;
  private static final long NAT64_HIGH = 0x0064_FF9B_0000_0000L;

  private final int[] groups = new int[8];
  private final StringBuilder text = new StringBuilder(48);
  private long high;
  private long low;
  private boolean ipv4;

  /** Parses {@code s}; false (and this object's address undefined) when it is not an IP address literal. */
  public boolean parse(CharSequence s) {
    int length = s.length();
    if (length == 0 || length > 45) {
      return false;
    }
    boolean colon = false;
    for (int i = 0; i < length && !colon; i++) {
      colon = s.charAt(i) == ':';
    }
    if (!colon) {
      long v4 = parseIpv4(s, 0, length);
      if (v4 < 0) {
        return false;
      }
      setIpv4(v4);
      return true;
    }
    if (!parseIpv6(s, length)) {
      return false;
    }
    if (high == 0 && (low >>> 32) == MAPPED_V4 || high == NAT64_HIGH && (low >>> 32) == 0) {
      setIpv4(low & 0xFFFF_FFFFL);
    } else {
      ipv4 = false;
    }
    return true;
  }

  /** Whether the last parsed address is (or carries) an IPv4 address. */
  public boolean isIpv4() {
    return ipv4;
  }

  /** The normalised text of the last parsed address; valid until the next call on this object. */
  public CharSequence canonical() {
    text.setLength(0);
    if (ipv4) {
      appendIpv4(low);
    } else {
      appendIpv6(high, low);
    }
    return text;
  }

  /**
   * The network of the last parsed address, as {@code address/prefix} with the host bits cleared, or the canonical
   * address when the prefix is the full length; valid until the next call on this object.
   */
  public CharSequence network(int ipv4PrefixBits, int ipv6PrefixBits) {
    text.setLength(0);
    if (ipv4) {
      long mask = ipv4PrefixBits >= 32 ? 0xFFFF_FFFFL : (0xFFFF_FFFFL << (32 - ipv4PrefixBits)) & 0xFFFF_FFFFL;
      appendIpv4(low & mask);
      if (ipv4PrefixBits < 32) {
        text.append('/').append(ipv4PrefixBits);
      }
    } else {
      long h = high;
      long l = low;
      if (ipv6PrefixBits < 128) {
        if (ipv6PrefixBits <= 64) {
          l = 0;
          h = ipv6PrefixBits == 64 ? h : h & (-1L << (64 - ipv6PrefixBits));
        } else {
          l = l & (-1L << (128 - ipv6PrefixBits));
        }
      }
      appendIpv6(h, l);
      if (ipv6PrefixBits < 128) {
        text.append('/').append(ipv6PrefixBits);
      }
    }
    return text;
  }

  private void setIpv4(long value) {
    ipv4 = true;
    high = 0;
    low = value;
  }

  /** The 32-bit value of a dotted quad in {@code s[from, to)}, or -1. */
  private static long parseIpv4(CharSequence s, int from, int to) {
    long value = 0;
    int i = from;
    for (int octets = 1; ; octets++) {
      int start = i;
      int octet = 0;
      while (i < to && i - start < 4) {
        char c = s.charAt(i);
        if (c < '0' || c > '9') {
          break;
        }
        octet = octet * 10 + (c - '0');
        i++;
      }
      int digits = i - start;
      if (digits == 0 || digits > 3 || octet > 255 || digits > 1 && s.charAt(start) == '0') {
        return -1;
      }
      value = value << 8 | octet;
      if (octets == 4) {
        return i == to ? value : -1;
      }
      if (i >= to || s.charAt(i) != '.') {
        return -1;
      }
      i++;
    }
  }

  private boolean parseIpv6(CharSequence s, int to) {
    int count = 0;
    int gap = -1;
    int i = 0;
    if (s.charAt(0) == ':') {
      if (to < 2 || s.charAt(1) != ':') {
        return false;
      }
      gap = 0;
      i = 2;
    }
    while (i < to) {
      int start = i;
      int value = 0;
      while (i < to && i - start < 5) {
        int digit = hex(s.charAt(i));
        if (digit < 0) {
          break;
        }
        value = value << 4 | digit;
        i++;
      }
      if (i < to && s.charAt(i) == '.') {
        long v4 = count <= 6 ? parseIpv4(s, start, to) : -1;
        if (v4 < 0) {
          return false;
        }
        groups[count++] = (int) (v4 >>> 16);
        groups[count++] = (int) (v4 & 0xFFFF);
        i = to;
        break;
      }
      int digits = i - start;
      if (digits == 0 || digits > 4 || count == 8) {
        return false;
      }
      groups[count++] = value;
      if (i == to) {
        break;
      }
      if (s.charAt(i) != ':') {
        return false;
      }
      i++;
      if (i < to && s.charAt(i) == ':') {
        if (gap >= 0) {
          return false;
        }
        gap = count;
        i++;
      } else if (i == to) {
        return false;
      }
    }
    if (gap < 0 ? count != 8 : count > 7) {
      return false;
    }
    long h = 0;
    long l = 0;
    int zeros = 8 - count;
    for (int g = 0, src = 0; g < 8; g++) {
      int v = gap >= 0 && g >= gap && g < gap + zeros ? 0 : groups[src++];
      if (g < 4) {
        h = h << 16 | v;
      } else {
        l = l << 16 | v;
      }
    }
    high = h;
    low = l;
    return true;
  }

  private static int hex(char c) {
    if (c >= '0' && c <= '9') {
      return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
      return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
      return c - 'A' + 10;
    }
    return -1;
  }

  private void appendIpv4(long v) {
    text.append((v >>> 24) & 0xFF).append('.').append((v >>> 16) & 0xFF).append('.')
        .append((v >>> 8) & 0xFF).append('.').append(v & 0xFF);
  }

  private void appendIpv6(long h, long l) {
    for (int g = 0; g < 8; g++) {
      groups[g] = (int) ((g < 4 ? h >>> (48 - 16 * g) : l >>> (48 - 16 * (g - 4))) & 0xFFFF);
    }
    int bestStart = -1;
    int bestLength = 1;
    for (int g = 0; g < 8; ) {
      if (groups[g] != 0) {
        g++;
        continue;
      }
      int start = g;
      while (g < 8 && groups[g] == 0) {
        g++;
      }
      if (g - start > bestLength) {
        bestStart = start;
        bestLength = g - start;
      }
    }
    for (int g = 0; g < 8; g++) {
      if (g == bestStart) {
        text.append("::");
        g += bestLength - 1;
        continue;
      }
      if (g > 0 && g != bestStart + bestLength) {
        text.append(':');
      }
      appendHex(groups[g]);
    }
  }

  private void appendHex(int v) {
    boolean started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      int digit = (v >>> shift) & 0xF;
      if (digit != 0 || started || shift == 0) {
        text.append((char) (digit < 10 ? '0' + digit : 'a' + digit - 10));
        started = true;
      }
    }
  }
}
