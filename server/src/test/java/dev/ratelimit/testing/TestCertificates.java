package dev.ratelimit.testing;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A throw-away PKI made at test time with the JDK's {@code keytool} (always present, unlike openssl): a CA, and
 * certificates it signs, written as the PEM files the server's TLS flags take.
 */
public final class TestCertificates {
  private static final String PASSWORD = "changeit";

  private final Path dir;
  private final String name;

  private TestCertificates(Path dir, String name) {
    this.dir = dir;
    this.name = name;
  }

  /** Creates a CA named {@code name} in {@code dir}; its certificate is {@link #caPem()}. */
  public static TestCertificates newCa(Path dir, String name) throws Exception {
    TestCertificates ca = new TestCertificates(dir, name);
    keytool("-genkeypair", "-keystore", ca.store(name).toString(), "-storetype", "PKCS12", "-storepass", PASSWORD,
        "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + name, "-ext", "bc:c",
        "-validity", "2");
    keytool("-exportcert", "-rfc", "-keystore", ca.store(name).toString(), "-storepass", PASSWORD, "-alias", name,
        "-file", ca.caPem().toString());
    return ca;
  }

  /** The CA certificate (PEM). */
  public Path caPem() {
    return dir.resolve(name + "-ca.pem");
  }

  /**
   * Issues a certificate for {@code subject} with the given extended key usage ({@code serverAuth} or
   * {@code clientAuth}), valid for 127.0.0.1 and localhost; returns {certificate chain PEM, private key PEM}.
   */
  public Path[] issue(String subject, String usage) throws Exception {
    Path store = store(subject);
    keytool("-genkeypair", "-keystore", store.toString(), "-storetype", "PKCS12", "-storepass", PASSWORD,
        "-alias", subject, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=" + subject, "-validity", "2");
    Path csr = dir.resolve(subject + ".csr");
    keytool("-certreq", "-keystore", store.toString(), "-storepass", PASSWORD, "-alias", subject,
        "-file", csr.toString());
    Path leaf = dir.resolve(subject + "-leaf.pem");
    keytool("-gencert", "-keystore", store(name).toString(), "-storepass", PASSWORD, "-alias", name,
        "-infile", csr.toString(), "-outfile", leaf.toString(), "-rfc", "-validity", "2",
        "-ext", "san=ip:127.0.0.1,dns:localhost", "-ext", "eku=" + usage);
    Path chain = dir.resolve(subject + "-chain.pem");
    Files.writeString(chain, Files.readString(leaf) + Files.readString(caPem()));
    Path key = dir.resolve(subject + "-key.pem");
    Files.writeString(key, privateKeyPem(store, subject));
    return new Path[] {chain, key};
  }

  private Path store(String alias) {
    return dir.resolve(alias + ".p12");
  }

  private static String privateKeyPem(Path store, String alias) throws Exception {
    KeyStore keyStore = KeyStore.getInstance("PKCS12");
    try (InputStream in = Files.newInputStream(store)) {
      keyStore.load(in, PASSWORD.toCharArray());
    }
    PrivateKey key = (PrivateKey) keyStore.getKey(alias, PASSWORD.toCharArray());
    return "-----BEGIN PRIVATE KEY-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.getEncoded())
        + "\n-----END PRIVATE KEY-----\n";
  }

  private static void keytool(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.addAll(List.of(args));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
      throw new IOException("keytool " + String.join(" ", args) + " failed: " + output);
    }
  }
}
