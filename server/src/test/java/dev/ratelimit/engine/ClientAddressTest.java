package dev.ratelimit.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The hand-written address parser: normal forms, networks and what it refuses. */
class ClientAddressTest {
  private final ClientAddress address = new ClientAddress();

  @ParameterizedTest
  @CsvSource({
      "1.2.3.4, 1.2.3.4",
      "0.0.0.0, 0.0.0.0",
      "255.255.255.255, 255.255.255.255",
      "::ffff:1.2.3.4, 1.2.3.4",
      "::FFFF:0102:0304, 1.2.3.4",
      "0:0:0:0:0:ffff:1.2.3.4, 1.2.3.4",
      "64:ff9b::192.0.2.33, 192.0.2.33",
      "2001:DB8::1, 2001:db8::1",
      "2001:db8:0:0::1, 2001:db8::1",
      "2001:0db8:0000:0000:0000:0000:0000:0001, 2001:db8::1",
      "2001:db8:0:0:1:0:0:1, 2001:db8::1:0:0:1",
      "2001:db8:0:1:1:1:1:1, 2001:db8:0:1:1:1:1:1",
      "::, ::",
      "::1, ::1",
      "1::, 1::",
      "fe80::, fe80::",
      "::1.2.3.4, ::102:304",
      "1:0:0:2:0:0:0:3, 1:0:0:2::3",
      "1:2:3:4:5:6:7:8, 1:2:3:4:5:6:7:8",
  })
  void normalises(String text, String canonical) {
    assertTrue(address.parse(text), text);
    assertEquals(canonical, address.canonical().toString());
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.-4", "a.b.c.d",
      ":", ":::", "1:::2", ":1::2", "1::2:", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::",
      "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "g::1", "fe80::1%eth0", "[::1]", "::1/128", "1.2.3.4:80",
      "::ffff:1.2.3", "::ffff:1.2.3.256", "1:2:3:4:5:6:7:1.2.3.4", "localhost", "example.com", "\u0661.2.3.4",
      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255x"})
  void refusesWhatIsNotAnAddressLiteral(String text) {
    assertFalse(address.parse(text), text);
  }

  @ParameterizedTest
  @CsvSource({
      "2001:db8:aaaa:bbbb:1:2:3:4, 32, 64, 2001:db8:aaaa:bbbb::/64",
      "2001:db8:aaaa:bbbb:ffff:ffff:ffff:ffff, 32, 64, 2001:db8:aaaa:bbbb::/64",
      "2001:db8:aaaa:bbbb:1:2:3:4, 32, 48, 2001:db8:aaaa::/48",
      "2001:db8:aaaa:bbbb:1:2:3:4, 32, 56, 2001:db8:aaaa:bb00::/56",
      "2001:db8:aaaa:bbbb:1:2:3:4, 32, 128, 2001:db8:aaaa:bbbb:1:2:3:4",
      "2001:db8:aaaa:bbbb:1:2:3:4, 32, 96, 2001:db8:aaaa:bbbb:1:2::/96",
      "::ffff:10.1.2.3, 32, 64, 10.1.2.3",
      "10.1.2.3, 24, 64, 10.1.2.0/24",
      "10.1.2.3, 32, 64, 10.1.2.3",
  })
  void keysByNetwork(String text, int v4, int v6, String network) {
    assertTrue(address.parse(text));
    assertEquals(network, address.network(v4, v6).toString());
  }
}
