package dev.ratelimit.deploy;

import org.junit.jupiter.api.Tag;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.net.URI;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Kustomize overlays in {@code deploy/overlays/} render ({@code kubectl kustomize}) into objects
 * that the Kubernetes, Istio and Prometheus Operator models read strictly, consistent with each other,
 * the policy and the server's ports.
 */
@Tag("deploy")
class KubernetesManifestsTest {
  static final String EMBEDDED = "deploy/overlays/embedded";
  static final String REDIS = "deploy/overlays/redis";

  /** The server's workload in a rendered overlay: its pod template and its only container. */
  record Workload(List<HasMetadata> manifests, PodTemplateSpec template, Container container) {
    static Workload of(String overlay) {
      List<HasMetadata> manifests = Kustomize.manifests(overlay);
      PodTemplateSpec template = manifests.stream()
          .filter(m -> m.getMetadata().getName().equals("ratelimit"))
          .map(m -> m instanceof StatefulSet s ? s.getSpec().getTemplate()
              : m instanceof Deployment d ? d.getSpec().getTemplate() : null)
          .filter(t -> t != null).findFirst().orElseThrow(() -> new AssertionError("no workload in " + overlay));
      assertEquals(1, template.getSpec().getContainers().size());
      return new Workload(manifests, template, template.getSpec().getContainers().get(0));
    }

    PodSpec pod() {
      return template.getSpec();
    }

    String env(String name) {
      return KubernetesManifestsTest.env(container, name);
    }
  }

  @Test
  void overlaysRenderTheExpectedObjects() {
    assertEquals(List.of("ConfigMap", "Namespace", "NetworkPolicy", "PodDisruptionBudget", "Service",
            "ServiceAccount", "ServiceMonitor", "StatefulSet"),
        kinds(Kustomize.manifests(EMBEDDED)));
    assertEquals(List.of("ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Namespace", "NetworkPolicy",
            "NetworkPolicy", "PodDisruptionBudget", "Service", "Service", "ServiceAccount", "ServiceMonitor",
            "StatefulSet"),
        kinds(Kustomize.manifests(REDIS)));
    for (String overlay : List.of(EMBEDDED, REDIS)) {
      Kustomize.manifests(overlay).stream().filter(m -> !m.getKind().equals("Namespace"))
          .forEach(m -> assertEquals("ratelimit", m.getMetadata().getNamespace(), m.getKind()));
    }
  }

  @Test
  void misspeltOrMistypedFieldIsRejected() {
    String text = Kustomize.render(EMBEDDED);
    var misspelt = assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("  replicas: 1", "  replica: 1")));
    assertTrue(misspelt.getMessage().contains("\"replica\""), misspelt.getMessage());
    assertThrows(IllegalArgumentException.class, () -> KubeYaml.read(text.replace("  replicas: 1", "  replicas: one")));
    assertThrows(IllegalArgumentException.class, () -> KubeYaml.read(text.replace("readinessProbe:", "readinesProbe:")));
    assertThrows(IllegalArgumentException.class, () -> KubeYaml.read(text.replace("scrapeTimeout:", "scrapeTimout:")));
    assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(Kustomize.render(REDIS).replace("averageUtilization:", "averageUtilisation:")));
  }

  @Test
  void policyIsGeneratedFromACopyOfTheDefaultPolicyUnderAFixedName() throws Exception {
    String policy = Files.readString(Repo.file("envoy-config/ratelimit/api.yaml"));
    assertEquals(policy, Files.readString(Repo.file("deploy/base/api.yaml")),
        "deploy/base/api.yaml must be a copy of envoy-config/ratelimit/api.yaml: cp envoy-config/ratelimit/api.yaml deploy/base/");
    for (String overlay : List.of(EMBEDDED, REDIS)) {
      Workload w = Workload.of(overlay);
      ConfigMap configMap = KubeYaml.only(w.manifests(), ConfigMap.class);
      assertEquals(policy, configMap.getData().get("api.yaml"), overlay);
      // A fixed name (no hash suffix): a policy change updates the mounted file and the server reloads it.
      assertEquals("ratelimit-policy", configMap.getMetadata().getName());
      var volume = w.pod().getVolumes().stream().filter(v -> v.getName().equals("policy")).findFirst().orElseThrow();
      assertEquals(configMap.getMetadata().getName(), volume.getConfigMap().getName());
      var mount = w.container().getVolumeMounts().stream().filter(m -> m.getName().equals("policy")).findFirst().orElseThrow();
      assertEquals(w.env("RATELIMIT_CONFIG"), mount.getMountPath() + "/api.yaml");
      assertEquals(null, mount.getSubPath(), "a subPath mount never sees ConfigMap updates");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {EMBEDDED, REDIS})
  void probesUseHealthAndReadinessOnTheAdminHttpPort(String overlay) {
    Workload w = Workload.of(overlay);
    ContainerPort admin = port(w.container(), "admin");
    assertEquals(9090, admin.getContainerPort());
    assertEquals("/healthz", w.container().getLivenessProbe().getHttpGet().getPath());
    assertEquals("/healthz", w.container().getStartupProbe().getHttpGet().getPath());
    assertEquals("/readyz", w.container().getReadinessProbe().getHttpGet().getPath());
    for (Probe probe : List.of(w.container().getStartupProbe(), w.container().getReadinessProbe(),
        w.container().getLivenessProbe())) {
      assertEquals("admin", probe.getHttpGet().getPort().getStrVal());
    }
    assertEquals(String.valueOf(port(w.container(), "grpc").getContainerPort()), w.env("RATELIMIT_PORT"));
    Service service = KubeYaml.named(w.manifests(), Service.class, "ratelimit");
    assertEquals(1, service.getSpec().getPorts().size(), "gRPC only: admin ports are never in a Service");
    assertEquals("grpc", service.getSpec().getPorts().get(0).getTargetPort().getStrVal());
    assertEquals(8081, service.getSpec().getPorts().get(0).getPort(), "envoy.yaml and the Istio filters use 8081");
  }

  @ParameterizedTest
  @ValueSource(strings = {EMBEDDED, REDIS})
  void podIsLockedDown(String overlay) {
    Workload w = Workload.of(overlay);
    var podSecurity = w.pod().getSecurityContext();
    assertEquals(Boolean.TRUE, podSecurity.getRunAsNonRoot());
    assertEquals("RuntimeDefault", podSecurity.getSeccompProfile().getType());
    var security = w.container().getSecurityContext();
    assertEquals(Boolean.TRUE, security.getReadOnlyRootFilesystem());
    assertEquals(Boolean.FALSE, security.getAllowPrivilegeEscalation());
    assertEquals(List.of("ALL"), security.getCapabilities().getDrop());
    var tmp = w.container().getVolumeMounts().stream().filter(m -> m.getMountPath().equals("/tmp")).findFirst().orElseThrow();
    assertNotNull(w.pod().getVolumes().stream().filter(v -> v.getName().equals(tmp.getName())).findFirst()
        .orElseThrow().getEmptyDir(), "/tmp is an emptyDir (the root filesystem is read-only)");
    assertEquals(Boolean.FALSE, w.pod().getAutomountServiceAccountToken());
    assertEquals("ratelimit", w.pod().getServiceAccountName());
    assertEquals("false", w.template().getMetadata().getAnnotations().get("sidecar.istio.io/inject"));
  }

  @ParameterizedTest
  @ValueSource(strings = {EMBEDDED, REDIS})
  void selectorsPickTheServersPods(String overlay) {
    Workload w = Workload.of(overlay);
    Map<String, String> labels = w.template().getMetadata().getLabels();
    assertTrue(labels.entrySet().containsAll(
        KubeYaml.named(w.manifests(), Service.class, "ratelimit").getSpec().getSelector().entrySet()));
    assertTrue(labels.entrySet().containsAll(KubeYaml.only(w.manifests(), PodDisruptionBudget.class)
        .getSpec().getSelector().getMatchLabels().entrySet()));
    assertTrue(labels.entrySet().containsAll(KubeYaml.named(w.manifests(), NetworkPolicy.class, "ratelimit")
        .getSpec().getPodSelector().getMatchLabels().entrySet()));
    ServiceMonitor monitor = KubeYaml.only(w.manifests(), ServiceMonitor.class);
    assertTrue(KubeYaml.named(w.manifests(), Service.class, "ratelimit").getMetadata().getLabels().entrySet()
        .containsAll(monitor.getSpec().getSelector().getMatchLabels().entrySet()));
    assertEquals(List.of("ratelimit"), monitor.getSpec().getNamespaceSelector().getMatchNames());
  }

  @ParameterizedTest
  @ValueSource(strings = {EMBEDDED, REDIS})
  void networkPolicyAdmitsClientsToGrpcPrometheusToAdminAndNobodyToAdminGrpc(String overlay) {
    Workload w = Workload.of(overlay);
    NetworkPolicy policy = KubeYaml.named(w.manifests(), NetworkPolicy.class, "ratelimit");
    assertEquals(List.of("Ingress"), policy.getSpec().getPolicyTypes());
    Map<String, NetworkPolicyIngressRule> byPort = new java.util.TreeMap<>();
    for (NetworkPolicyIngressRule rule : policy.getSpec().getIngress()) {
      assertEquals(1, rule.getPorts().size(), "one port per rule");
      assertNotNull(rule.getFrom(), "a rule without 'from' would admit everyone");
      byPort.put(rule.getPorts().get(0).getPort().getStrVal(), rule);
    }
    assertEquals(List.of("admin", "grpc"), List.copyOf(byPort.keySet()), "nothing reaches admin-grpc (9091)");
    var grpcFrom = byPort.get("grpc").getFrom();
    assertTrue(grpcFrom.stream().anyMatch(p -> p.getPodSelector() == null
        && Map.of("kubernetes.io/metadata.name", "istio-system").equals(p.getNamespaceSelector().getMatchLabels())));
    assertTrue(grpcFrom.stream().anyMatch(p -> p.getPodSelector() != null
        && Map.of("ratelimit-client", "true").equals(p.getPodSelector().getMatchLabels())));
    var adminFrom = byPort.get("admin").getFrom();
    assertEquals(1, adminFrom.size());
    assertEquals(Map.of("kubernetes.io/metadata.name", "monitoring"), adminFrom.get(0).getNamespaceSelector().getMatchLabels());
    assertEquals(null, adminFrom.get(0).getPodSelector());
    // The names the policy uses are the container's.
    byPort.keySet().forEach(name -> port(w.container(), name));
  }

  @ParameterizedTest
  @ValueSource(strings = {EMBEDDED, REDIS})
  void serviceMonitorScrapesMetricsOnTheAdminContainerPort(String overlay) {
    Workload w = Workload.of(overlay);
    var endpoints = KubeYaml.only(w.manifests(), ServiceMonitor.class).getSpec().getEndpoints();
    assertEquals(1, endpoints.size());
    assertEquals(port(w.container(), "admin").getContainerPort(), endpoints.get(0).getTargetPort().getIntVal());
    assertEquals("/metrics", endpoints.get(0).getPath());
    assertEquals(null, endpoints.get(0).getPort(), "no Service port names an admin port");
  }

  @Test
  void embeddedOverlayKeepsCountersOnAVolumeClaimOfOneStatefulSetPod() {
    Workload w = Workload.of(EMBEDDED);
    StatefulSet set = KubeYaml.only(w.manifests(), StatefulSet.class);
    assertEquals(1, set.getSpec().getReplicas(), "the embedded store is exact within one process");
    assertEquals("OrderedReady", set.getSpec().getPodManagementPolicy());
    assertEquals("RollingUpdate", set.getSpec().getUpdateStrategy().getType());
    assertEquals("Retain", set.getSpec().getPersistentVolumeClaimRetentionPolicy().getWhenDeleted());
    var claim = set.getSpec().getVolumeClaimTemplates().get(0);
    assertEquals(List.of("ReadWriteOnce"), claim.getSpec().getAccessModes());
    var mount = w.container().getVolumeMounts().stream()
        .filter(m -> m.getName().equals(claim.getMetadata().getName())).findFirst().orElseThrow();
    assertTrue(w.env("RATELIMIT_DATA_FILE").startsWith(mount.getMountPath() + "/"));
    assertFalse(Boolean.TRUE.equals(mount.getReadOnly()));
    assertTrue(w.pod().getVolumes().stream().noneMatch(v -> v.getName().equals(claim.getMetadata().getName())),
        "the data volume is the claim, not a pod volume of the same name");
    assertEquals("ratelimit", set.getSpec().getServiceName());
    assertEquals(1, KubeYaml.only(w.manifests(), PodDisruptionBudget.class).getSpec().getMaxUnavailable().getIntVal(),
        "one pod: the budget must still allow a drain");
  }

  @Test
  void redisOverlayRunsReplicasThatShareOneRedis() {
    Workload w = Workload.of(REDIS);
    Deployment deployment = KubeYaml.only(w.manifests(), Deployment.class);
    assertEquals(3, deployment.getSpec().getReplicas());
    assertEquals("redis", w.env("RATELIMIT_STORE"));
    assertTrue(w.container().getEnv().stream().noneMatch(e -> e.getName().equals("RATELIMIT_DATA_FILE")));
    URI redis = URI.create(w.env("RATELIMIT_REDIS_URI"));
    Service redisService = KubeYaml.named(w.manifests(), Service.class, redis.getHost());
    assertEquals(redis.getPort(), redisService.getSpec().getPorts().get(0).getPort());
    StatefulSet redisSet = KubeYaml.named(w.manifests(), StatefulSet.class, "redis");
    assertTrue(redisSet.getSpec().getTemplate().getMetadata().getLabels().entrySet()
        .containsAll(redisService.getSpec().getSelector().entrySet()));
    assertTrue(redisSet.getSpec().getTemplate().getSpec().getContainers().get(0).getImage().startsWith("redis:7"));
    // Only the server reaches Redis.
    NetworkPolicy redisPolicy = KubeYaml.named(w.manifests(), NetworkPolicy.class, "redis");
    assertEquals(w.template().getMetadata().getLabels(),
        redisPolicy.getSpec().getIngress().get(0).getFrom().get(0).getPodSelector().getMatchLabels());

    PodDisruptionBudget pdb = KubeYaml.only(w.manifests(), PodDisruptionBudget.class);
    assertEquals(2, pdb.getSpec().getMinAvailable().getIntVal());
    HorizontalPodAutoscaler hpa = KubeYaml.only(w.manifests(), HorizontalPodAutoscaler.class);
    assertEquals("Deployment", hpa.getSpec().getScaleTargetRef().getKind());
    assertEquals(deployment.getMetadata().getName(), hpa.getSpec().getScaleTargetRef().getName());
    assertTrue(hpa.getSpec().getMinReplicas() > pdb.getSpec().getMinAvailable().getIntVal(),
        "minReplicas must exceed the PDB's minAvailable, or no pod could ever be drained");
    assertEquals("cpu", hpa.getSpec().getMetrics().get(0).getResource().getName());
    assertNotNull(w.container().getResources().getRequests().get("cpu"), "CPU utilisation is relative to the request");
    var spread = w.pod().getTopologySpreadConstraints();
    assertEquals(List.of("kubernetes.io/hostname", "topology.kubernetes.io/zone"),
        spread.stream().map(c -> c.getTopologyKey()).toList());
    spread.forEach(c -> assertEquals(w.template().getMetadata().getLabels(), c.getLabelSelector().getMatchLabels()));
  }

  private static List<String> kinds(List<HasMetadata> manifests) {
    return manifests.stream().map(HasMetadata::getKind).sorted().toList();
  }

  static ContainerPort port(Container container, String name) {
    return container.getPorts().stream().filter(p -> name.equals(p.getName())).findFirst()
        .orElseThrow(() -> new AssertionError("no container port " + name));
  }

  /** The value of environment variable {@code name} of the container. */
  static String env(Container container, String name) {
    return container.getEnv().stream().filter(e -> e.getName().equals(name))
        .findFirst().orElseThrow(() -> new AssertionError("no env " + name)).getValue();
  }
}
