package dev.ratelimit.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A real HTTP client for the admin port, and a reader for the Prometheus text it serves. */
public final class Http {
  private static final HttpClient CLIENT = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)})?\\s+(\\S+)$");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

  private Http() {}

  public static HttpResponse<String> get(URI uri) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  public static HttpResponse<String> post(URI uri) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  public static HttpResponse<String> send(URI uri, String method) throws IOException, InterruptedException {
    return CLIENT.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * The value of the sample {@code name} whose labels include all of {@code labels} in Prometheus text, or null when
   * there is none; fails when several match.
   */
  public static Double sample(String exposition, String name, Map<String, String> labels) {
    Double found = null;
    for (String line : exposition.split("\n")) {
      Matcher m = SAMPLE.matcher(line.trim());
      if (line.startsWith("#") || !m.matches() || !m.group(1).equals(name)) {
        continue;
      }
      Map<String, String> actual = new HashMap<>();
      if (m.group(2) != null) {
        Matcher l = LABEL.matcher(m.group(2));
        while (l.find()) {
          actual.put(l.group(1), l.group(2));
        }
      }
      if (actual.entrySet().containsAll(labels.entrySet())) {
        if (found != null) {
          throw new AssertionError("several samples of " + name + " match " + labels);
        }
        found = Double.valueOf(m.group(3));
      }
    }
    return found;
  }
}
