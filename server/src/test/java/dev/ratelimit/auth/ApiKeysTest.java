package dev.ratelimit.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ratelimit.policy.ConfigException;
import org.junit.jupiter.api.Test;

/** Parsing the API keys file: keys known only by their SHA-256, every error with file, line and field. */
class ApiKeysTest {
  private static final String FOO_SHA256 = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

  @Test
  void aKeyResolvesByItsSha256() throws ConfigException {
    ApiKeys keys = ApiKeys.parse("k.yaml", """
        keys:
          - sha256: 2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE
            org: acme
            tier: enterprise-2026
            id: acme-ci
          - {sha256: %s, org: beta, tier: free}
        """.formatted(ApiKeys.sha256Hex("bar")));
    assertEquals(FOO_SHA256, ApiKeys.sha256Hex("foo"));
    assertEquals(new ApiKeys.Entry("acme", "enterprise-2026", "acme-ci"), keys.lookup("foo"), "any tier name");
    assertEquals(new ApiKeys.Entry("beta", "free", null), keys.lookup("bar"));
    assertNull(keys.lookup("fo"));
    assertNull(keys.lookup(FOO_SHA256), "the digest itself is not a key");
    assertEquals(2, keys.size());
  }

  @Test
  void errorsNameTheLineAndField() {
    assertEquals("k.yaml:3: keys[0].sha256: must be the 64 hex digits of the key's SHA-256 (e.g. printf %s KEY | "
        + "sha256sum), never the key itself", message("""
        keys:
          - org: acme
            sha256: demo-free-key
            tier: free
        """));
    assertEquals("k.yaml:3: keys[1].tier: is missing", message("""
        keys:
          - {sha256: %s, org: a, tier: free}
          - sha256: %s
            org: b
        """.formatted(ApiKeys.sha256Hex("a"), ApiKeys.sha256Hex("b"))));
    assertEquals("k.yaml:2: keys[0].tier: must be a non-empty string", message("""
        keys:
          - {sha256: %s, org: a, tier: ''}
        """.formatted(FOO_SHA256)));
    assertEquals("k.yaml:3: keys[1].sha256: the same key is already listed on line 2", message("""
        keys:
          - {sha256: %s, org: a, tier: free}
          - {sha256: %s, org: b, tier: pro}
        """.formatted(FOO_SHA256, FOO_SHA256)));
    assertEquals("k.yaml:2: keys[0].key: unknown field; expected one of [id, org, sha256, tier]", message("""
        keys:
          - {key: foo, sha256: %s, org: a, tier: free}
        """.formatted(FOO_SHA256)));
    assertEquals("k.yaml:1: keys: must be a list of {sha256, org, tier, id} entries", message("keys: {a: 1}\n"));
  }

  private static String message(String yaml) {
    return assertThrows(ConfigException.class, () -> ApiKeys.parse("k.yaml", yaml)).getMessage();
  }
}
