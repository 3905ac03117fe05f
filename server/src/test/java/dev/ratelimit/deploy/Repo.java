package dev.ratelimit.deploy;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates files of this repository from a test, whichever module directory the test runs in. */
final class Repo {
  private Repo() {}

  /** The repository root: the nearest ancestor of the working directory holding {@code envoy-config/}. */
  static Path root() {
    Path dir = Path.of("").toAbsolutePath();
    while (dir != null && !Files.isDirectory(dir.resolve("envoy-config"))) {
      dir = dir.getParent();
    }
    if (dir == null) {
      throw new IllegalStateException("no envoy-config/ above " + Path.of("").toAbsolutePath());
    }
    return dir;
  }

  /** A path relative to the repository root. */
  static Path file(String relative) {
    return root().resolve(relative);
  }
}
