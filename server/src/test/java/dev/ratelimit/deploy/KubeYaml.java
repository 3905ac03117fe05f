package dev.ratelimit.deploy;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.google.gson.Gson;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.fabric8.istio.api.networking.v1alpha3.EnvoyFilter;
import io.fabric8.istio.api.networking.v1beta1.DestinationRule;
import io.fabric8.istio.api.networking.v1beta1.Gateway;
import io.fabric8.istio.api.security.v1beta1.AuthorizationPolicy;
import io.fabric8.istio.api.networking.v1beta1.VirtualService;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * Reads Kubernetes and Istio manifests into the fabric8 model classes, strictly: the models' catch-all
 * {@code additionalProperties} is switched off, so an unknown or misspelt field fails with its path,
 * as does a value of the wrong type (no string-to-number coercion), an unknown enum name or kind,
 * and anything else the model would not read back exactly as written.
 */
final class KubeYaml {
  private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
      Map.entry("v1/Namespace", Namespace.class),
      Map.entry("v1/ServiceAccount", ServiceAccount.class),
      Map.entry("v1/Service", Service.class),
      Map.entry("v1/ConfigMap", ConfigMap.class),
      Map.entry("apps/v1/Deployment", Deployment.class),
      Map.entry("apps/v1/StatefulSet", StatefulSet.class),
      Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
      Map.entry("autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class),
      Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
      Map.entry("monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class),
      Map.entry("networking.istio.io/v1alpha3/EnvoyFilter", EnvoyFilter.class),
      Map.entry("networking.istio.io/v1beta1/Gateway", Gateway.class),
      Map.entry("networking.istio.io/v1beta1/VirtualService", VirtualService.class),
      Map.entry("networking.istio.io/v1beta1/DestinationRule", DestinationRule.class),
      Map.entry("security.istio.io/v1beta1/AuthorizationPolicy", AuthorizationPolicy.class));

  private static final Gson GSON = new Gson();

  private static final ObjectMapper STRICT = JsonMapper.builder()
      .annotationIntrospector(new JacksonAnnotationIntrospector() {
        @Override
        public Boolean hasAnySetter(Annotated a) {
          return null; // ignore @JsonAnySetter: unknown fields become errors
        }
      })
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
      .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
      .build();

  private KubeYaml() {}

  /** Every manifest in the YAML files directly inside {@code dir}. */
  static List<HasMetadata> readDirectory(Path dir) throws IOException {
    List<HasMetadata> out = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList()) {
        out.addAll(read(Files.readString(file)));
      }
    }
    return out;
  }

  /** The manifests of a (possibly multi-document) YAML text. */
  static List<HasMetadata> read(String yamlText) {
    List<HasMetadata> out = new ArrayList<>();
    for (Object doc : new Yaml(new LoaderOptions()).loadAll(yamlText)) {
      if (doc != null) {
        out.add(convert(doc));
      }
    }
    return out;
  }

  /** Every manifest of the given type in the list. */
  static <T extends HasMetadata> List<T> all(List<HasMetadata> manifests, Class<T> type) {
    return manifests.stream().filter(type::isInstance).map(type::cast).toList();
  }

  /** The manifest of the given type and name. */
  static <T extends HasMetadata> T named(List<HasMetadata> manifests, Class<T> type, String name) {
    return all(manifests, type).stream().filter(m -> name.equals(m.getMetadata().getName())).findFirst()
        .orElseThrow(() -> new AssertionError("no " + type.getSimpleName() + " " + name));
  }

  /** The only manifest of the given type in the list. */
  static <T extends HasMetadata> T only(List<HasMetadata> manifests, Class<T> type) {
    List<T> found = manifests.stream().filter(type::isInstance).map(type::cast).toList();
    if (found.size() != 1) {
      throw new AssertionError("expected one " + type.getSimpleName() + ", found " + found.size());
    }
    return found.get(0);
  }

  private static HasMetadata convert(Object doc) {
    if (!(doc instanceof Map<?, ?> map)) {
      throw new IllegalArgumentException("a manifest must be a mapping, not " + doc);
    }
    String kind = map.get("apiVersion") + "/" + map.get("kind");
    Class<? extends HasMetadata> type = KINDS.get(kind);
    if (type == null) {
      throw new IllegalArgumentException("unexpected manifest kind " + kind + "; known: " + KINDS.keySet());
    }
    HasMetadata manifest = STRICT.convertValue(doc, type);
    // What the model understood must be what the file says: this catches values a model maps to
    // null or a fallback (fabric8's enums accept unknown names) instead of refusing them.
    Object understood = GSON.fromJson(GSON.toJson(STRICT.convertValue(manifest, Object.class)), Object.class);
    Object written = GSON.fromJson(GSON.toJson(doc), Object.class);
    String difference = difference("", written, understood);
    if (difference != null) {
      throw new IllegalArgumentException(kind + " " + manifest.getMetadata().getName()
          + ": the model does not read back what the file says at " + difference);
    }
    return manifest;
  }

  /** The first path where two JSON-like trees differ, or null when they are equal. */
  private static String difference(String path, Object written, Object understood) {
    if (written instanceof Map<?, ?> a && understood instanceof Map<?, ?> b) {
      for (Object key : a.keySet()) {
        String d = difference(path + "/" + key, a.get(key), b.get(key));
        if (d != null) {
          return d;
        }
      }
      return a.keySet().equals(b.keySet()) ? null : path + " (fields " + a.keySet() + " vs " + b.keySet() + ")";
    }
    if (written instanceof List<?> a && understood instanceof List<?> b && a.size() == b.size()) {
      for (int i = 0; i < a.size(); i++) {
        String d = difference(path + "/" + i, a.get(i), b.get(i));
        if (d != null) {
          return d;
        }
      }
      return null;
    }
    return java.util.Objects.equals(written, understood) ? null : path + ": " + written + " vs " + understood;
  }
}
