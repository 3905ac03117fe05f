package dev.ratelimit.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The manifests in {@code deploy/} are well-formed and consistent with each other and the policy. */
class KubernetesManifestsTest {
  static List<HasMetadata> manifests;
  static Deployment deployment;
  static Container container;

  @BeforeAll
  static void load() throws Exception {
    manifests = KubeYaml.readDirectory(Repo.file("deploy"));
    deployment = KubeYaml.only(manifests, Deployment.class);
    container = deployment.getSpec().getTemplate().getSpec().getContainers().get(0);
  }

  @Test
  void everyManifestParsesWithUnknownFieldsRejected() {
    assertEquals(List.of("ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Service"),
        manifests.stream().map(HasMetadata::getKind).sorted().toList());
    manifests.stream().filter(m -> !m.getKind().equals("Namespace"))
        .forEach(m -> assertEquals("ratelimit", m.getMetadata().getNamespace(), m.getKind()));
  }

  @Test
  void misspeltOrMistypedFieldIsRejected() throws Exception {
    String text = Files.readString(Repo.file("deploy/deployment.yaml"));
    var misspelt = assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("  replicas: 1", "  replica: 1")));
    assertTrue(misspelt.getMessage().contains("\"replica\""), misspelt.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("  replicas: 1", "  replicas: one")));
    assertThrows(IllegalArgumentException.class,
        () -> KubeYaml.read(text.replace("readinessProbe:", "readinesProbe:")));
  }

  @Test
  void configMapHoldsTheDefaultPolicyVerbatim() throws Exception {
    ConfigMap configMap = KubeYaml.only(manifests, ConfigMap.class);
    assertEquals(Files.readString(Repo.file("envoy-config/ratelimit/api.yaml")),
        configMap.getData().get("api.yaml"),
        "deploy/configmap.yaml must embed envoy-config/ratelimit/api.yaml unchanged");
  }

  @Test
  void probesUseTheGrpcHealthServiceOnTheServedPort() {
    ContainerPort grpc = container.getPorts().stream()
        .filter(p -> "grpc".equals(p.getName())).findFirst().orElseThrow();
    for (Probe probe : List.of(container.getStartupProbe(), container.getReadinessProbe(),
        container.getLivenessProbe())) {
      assertEquals(grpc.getContainerPort(), probe.getGrpc().getPort());
    }
    assertEquals(String.valueOf(grpc.getContainerPort()), env("RATELIMIT_PORT"));
    ServicePort servicePort = KubeYaml.only(manifests, Service.class).getSpec().getPorts().get(0);
    assertEquals("grpc", servicePort.getTargetPort().getStrVal());
    assertEquals(8081, servicePort.getPort(), "envoy.yaml and the Istio cluster patch use 8081");
  }

  @Test
  void selectorsPickTheDeploymentsPods() {
    Map<String, String> podLabels = deployment.getSpec().getTemplate().getMetadata().getLabels();
    assertTrue(podLabels.entrySet().containsAll(
        KubeYaml.only(manifests, Service.class).getSpec().getSelector().entrySet()));
    assertTrue(podLabels.entrySet().containsAll(KubeYaml.only(manifests, PodDisruptionBudget.class)
        .getSpec().getSelector().getMatchLabels().entrySet()));
    assertEquals(deployment.getSpec().getSelector().getMatchLabels(), podLabels);
  }

  @Test
  void policyAndDataFileLiveOnMountedVolumes() {
    var mounts = container.getVolumeMounts();
    assertTrue(mounts.stream().anyMatch(m -> m.getName().equals("policy")
        && env("RATELIMIT_CONFIG").equals(m.getMountPath() + "/api.yaml")));
    assertTrue(mounts.stream().anyMatch(m -> m.getName().equals("data") && !Boolean.TRUE.equals(m.getReadOnly())
        && env("RATELIMIT_DATA_FILE").startsWith(m.getMountPath() + "/")));
    var policyVolume = deployment.getSpec().getTemplate().getSpec().getVolumes().stream()
        .filter(v -> v.getName().equals("policy")).findFirst().orElseThrow();
    assertEquals(KubeYaml.only(manifests, ConfigMap.class).getMetadata().getName(),
        policyVolume.getConfigMap().getName());
  }

  static String env(String name) {
    return env(container, name);
  }

  /** The value of environment variable {@code name} of the container. */
  static String env(Container container, String name) {
    return container.getEnv().stream().filter(e -> e.getName().equals(name))
        .findFirst().orElseThrow(() -> new AssertionError("no env " + name)).getValue();
  }
}
