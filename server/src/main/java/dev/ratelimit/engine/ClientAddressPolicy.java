package dev.ratelimit.engine;

import java.util.Objects;
import java.util.Set;

/**
 * Which descriptor entries carry a client IP address, and how such a value becomes part of a counter key.
 *
 * <p>Values of these entries are normalised before matching ({@code ::ffff:192.0.2.1} is {@code 192.0.2.1},
 * {@code 2001:DB8:0:0::1} is {@code 2001:db8::1}), and when an entry keeps one counter per distinct value, the counter
 * is that of the address's network: by default an IPv6 client is keyed by its /64, the smallest allocation a site or
 * subscriber gets, inside which a host may rotate its address at will (privacy addresses, RFC 8981). A value that is
 * not an IP address shares one counter with every other such value, so inventing addresses cannot multiply a limit.
 *
 * @param keys descriptor keys whose values are client addresses (Envoy's {@code remote_address} action sends
 *     {@code remote_address}); empty to disable
 * @param ipv4PrefixBits IPv4 clients are keyed by this prefix (32: each address)
 * @param ipv6PrefixBits IPv6 clients are keyed by this prefix (64 by default; 128: each address)
 */
public record ClientAddressPolicy(Set<String> keys, int ipv4PrefixBits, int ipv6PrefixBits) {
  /** The counter value shared by every entry value that is not an IP address. */
  public static final String INVALID_ADDRESS = "invalid-address";

  public ClientAddressPolicy {
    keys = Set.copyOf(Objects.requireNonNull(keys, "keys"));
    if (ipv4PrefixBits < 8 || ipv4PrefixBits > 32) {
      throw new IllegalArgumentException("the IPv4 prefix must be 8..32 bits, not " + ipv4PrefixBits);
    }
    if (ipv6PrefixBits < 16 || ipv6PrefixBits > 128) {
      throw new IllegalArgumentException("the IPv6 prefix must be 16..128 bits, not " + ipv6PrefixBits);
    }
  }

  /** {@code remote_address} entries, IPv4 per address, IPv6 per /64. */
  public static ClientAddressPolicy defaults() {
    return new ClientAddressPolicy(Set.of("remote_address"), 32, 64);
  }

  /** No entry is treated as an address: values are keyed exactly as sent. */
  public static ClientAddressPolicy none() {
    return new ClientAddressPolicy(Set.of(), 32, 128);
  }

  /** Whether entries with this descriptor key hold client addresses. */
  public boolean isAddressKey(String key) {
    return !keys.isEmpty() && keys.contains(key);
  }
}
