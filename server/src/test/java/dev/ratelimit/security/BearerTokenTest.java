package dev.ratelimit.security;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Which {@code Authorization} values the admin token accepts, and which token files it refuses. */
class BearerTokenTest {
  @TempDir
  Path dir;

  @Test
  void acceptsExactlyBearerAndTheTokenFromTheFile() throws Exception {
    BearerToken token = BearerToken.open(Files.writeString(dir.resolve("token"), "  s3cret-Token_1\n"));
    assertTrue(token.accepts("Bearer s3cret-Token_1"));
    assertTrue(token.accepts("bearer s3cret-Token_1"), "the scheme is case-insensitive (RFC 7235)");
    assertTrue(token.accepts("BEARER  s3cret-Token_1 "), "surrounding spaces do not count");

    assertFalse(token.accepts(null));
    assertFalse(token.accepts(""));
    assertFalse(token.accepts("Bearer"));
    assertFalse(token.accepts("Bearer "));
    assertFalse(token.accepts("s3cret-Token_1"), "the scheme is required");
    assertFalse(token.accepts("Basic s3cret-Token_1"));
    assertFalse(token.accepts("Bearer s3cret-token_1"), "the token is case-sensitive");
    assertFalse(token.accepts("Bearer s3cret-Token_"), "a prefix is not the token");
    assertFalse(token.accepts("Bearer s3cret-Token_12"), "nor is a longer token");
  }

  @Test
  void anEmptyMultiWordOrMissingFileIsRefusedWithTheFileNamed() throws Exception {
    Path empty = Files.writeString(dir.resolve("empty"), " \n");
    assertMessage(empty, "admin token file " + empty + " is empty");
    Path words = Files.writeString(dir.resolve("words"), "two words\n");
    assertMessage(words, "must be one line without spaces");
    Path missing = dir.resolve("missing");
    assertMessage(missing, "cannot read the admin token file " + missing);
  }

  @Test
  void aTokenFileThatBecomesEmptyKeepsTheLastGoodToken() throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "first");
    BearerToken token = BearerToken.open(file);
    Files.writeString(file, "");
    assertTrue(token.accepts("Bearer first"), "an empty file is a half-written rotation, not 'no token'");
    assertFalse(token.accepts("Bearer "));
    Files.delete(file);
    assertTrue(token.accepts("Bearer first"));
  }

  private static void assertMessage(Path file, String expected) {
    IOException e = assertThrows(IOException.class, () -> BearerToken.open(file));
    assertTrue(e.getMessage().contains(expected), e.getMessage());
  }
}
