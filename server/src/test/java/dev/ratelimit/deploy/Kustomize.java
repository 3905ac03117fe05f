package dev.ratelimit.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Renders a kustomization with {@code kubectl kustomize} (kustomize v5, offline, default load
 * restrictions) and reads the result strictly with {@link KubeYaml}. Without kubectl on the PATH the
 * calling test is skipped with a message, except under {@code CI=true}, where it fails: CI must render.
 */
final class Kustomize {
  private static final ConcurrentHashMap<String, String> RENDERED = new ConcurrentHashMap<>();

  private Kustomize() {}

  /** The manifests that {@code kubectl kustomize <repo>/<dir>} renders, parsed strictly. */
  static List<io.fabric8.kubernetes.api.model.HasMetadata> manifests(String dir) {
    return KubeYaml.read(render(dir));
  }

  /** The YAML text that {@code kubectl kustomize <repo>/<dir>} renders (cached per directory). */
  static String render(String dir) {
    return RENDERED.computeIfAbsent(dir, Kustomize::run);
  }

  private static String run(String dir) {
    Path kubectl = kubectl();
    if (kubectl == null) {
      String message = "kubectl (with kustomize) is not on the PATH: cannot render " + dir;
      if ("true".equals(System.getenv("CI"))) {
        throw new AssertionError(message + "; .ci/run installs it");
      }
      Assumptions.abort(message + " (skipped outside CI)");
    }
    try {
      Path err = Files.createTempFile("kustomize", ".err");
      try {
        Process process = new ProcessBuilder(kubectl.toString(), "kustomize", Repo.file(dir).toString())
            .redirectError(err.toFile()).start();
        process.getOutputStream().close();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
          process.destroyForcibly();
          throw new AssertionError("kubectl kustomize " + dir + " did not finish in 60 s");
        }
        if (process.exitValue() != 0) {
          throw new AssertionError("kubectl kustomize " + dir + " failed: " + Files.readString(err));
        }
        return out;
      } finally {
        Files.deleteIfExists(err);
      }
    } catch (IOException e) {
      throw new AssertionError("cannot run kubectl kustomize " + dir, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  private static Path kubectl() {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
      Path candidate = Path.of(dir, "kubectl");
      if (Files.isExecutable(candidate)) {
        return candidate;
      }
    }
    return null;
  }
}
