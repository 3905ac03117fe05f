package dev.ratelimit.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A real {@code redis-server} process on a free loopback port, started and stopped by a test, plus a tiny RESP client
 * to inspect and steer it. Nothing is persisted ({@code --save '' --appendonly no}).
 */
public final class RedisProcess implements AutoCloseable {
  private final Path dir;
  private final int port;
  private final List<String> extraArgs;
  /** Sentinel mode: the configuration file Sentinel needs (it rewrites it), else null. */
  private final Path sentinelConfig;
  private Process process;
  private boolean paused;
  /** After {@link #killAndHoldPort}: a listener on the dead server's port, so that no other process takes it. */
  private PortHolder holder;

  private RedisProcess(Path dir, int port, List<String> extraArgs, Path sentinelConfig) {
    this.dir = dir;
    this.port = port;
    this.extraArgs = extraArgs;
    this.sentinelConfig = sentinelConfig;
  }

  /**
   * Skips the calling test when {@code redis-server} is not installed, unless {@code CI=true}: there its absence is a
   * failure ({@code .ci/run} installs it).
   */
  public static void assumeInstalled() {
    if (installed()) {
      return;
    }
    String message = "redis-server is not installed (Debian: apt-get install -y redis-server)";
    if ("true".equalsIgnoreCase(System.getenv("CI"))) {
      fail(message + "; CI must run the Redis tests");
    }
    Assumptions.abort(message + "; skipping the Redis tests");
  }

  private static boolean installed() {
    try {
      Process p = new ProcessBuilder("redis-server", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** Starts a server on a free port, its files (log, cluster config) in {@code dir}. */
  public static RedisProcess start(Path dir, String... extraArgs) throws Exception {
    assumeInstalled();
    Exception last = null;
    for (int attempt = 0; attempt < 3; attempt++) {
      RedisProcess redis = new RedisProcess(dir, freePort(), List.of(extraArgs), null);
      try {
        redis.launch();
        return redis;
      } catch (IOException e) {
        last = e; // the port was taken between choosing and binding it: try another
      }
    }
    throw last;
  }

  /** Starts a server on the given port (e.g. one a client was told about before the server came up). */
  public static RedisProcess startOn(Path dir, int port, String... extraArgs) throws Exception {
    assumeInstalled();
    RedisProcess redis = new RedisProcess(dir, port, List.of(extraArgs), null);
    redis.launch();
    return redis;
  }

  /** Starts a Sentinel watching the master at {@code masterPort} as {@code masterName}; fails over within seconds. */
  public static RedisProcess startSentinel(Path dir, String masterName, int masterPort) throws Exception {
    // Not lower: on a busy machine a shorter silence can look like a dead master and fail over spuriously.
    return startSentinel(dir, masterName, masterPort, 1, 3000);
  }

  /**
   * Starts a Sentinel watching the master at {@code masterPort} as {@code masterName}, agreeing with {@code quorum}
   * Sentinels (itself included) that it is down after {@code downAfterMillis} of silence.
   */
  public static RedisProcess startSentinel(Path dir, String masterName, int masterPort, int quorum,
      int downAfterMillis) throws Exception {
    assumeInstalled();
    Files.createDirectories(dir);
    Path config = dir.resolve("sentinel.conf");
    Files.writeString(config, String.join("\n",
        "sentinel monitor " + masterName + " 127.0.0.1 " + masterPort + " " + quorum,
        "sentinel down-after-milliseconds " + masterName + " " + downAfterMillis,
        "sentinel failover-timeout " + masterName + " 3000",
        ""));
    RedisProcess sentinel = new RedisProcess(dir, freePort(), List.of(), config);
    sentinel.launch();
    return sentinel;
  }

  /**
   * Starts {@code masters} cluster nodes, splits the 16384 slots evenly between them and joins them into one
   * Redis Cluster, waiting until every node reports it healthy.
   */
  public static List<RedisProcess> startCluster(Path dir, int masters) throws Exception {
    return startCluster(dir, masters, false, 5000);
  }

  /**
   * Starts a cluster of {@code masters} masters, each with one replica when {@code withReplicas} (then the list holds
   * the masters first, then replica {@code i} of master {@code i} at {@code masters + i}), failing a node over after
   * {@code nodeTimeoutMillis} of silence. Waits until every node reports it healthy and every replica is in sync.
   */
  public static List<RedisProcess> startCluster(Path dir, int masters, boolean withReplicas, int nodeTimeoutMillis)
      throws Exception {
    List<RedisProcess> nodes = new ArrayList<>();
    int total = withReplicas ? 2 * masters : masters;
    try {
      for (int i = 0; i < total; i++) {
        nodes.add(start(dir.resolve("node-" + i), "--cluster-enabled", "yes", "--cluster-node-timeout",
            Integer.toString(nodeTimeoutMillis), "--cluster-replica-validity-factor", "0"));
      }
      for (int i = 0; i < masters; i++) {
        RedisProcess node = nodes.get(i);
        node.command("CLUSTER", "SET-CONFIG-EPOCH", Integer.toString(i + 1));
        int from = 16384 * i / masters;
        int to = 16384 * (i + 1) / masters - 1;
        node.command("CLUSTER", "ADDSLOTSRANGE", Integer.toString(from), Integer.toString(to));
      }
      for (int i = 1; i < total; i++) {
        nodes.get(0).command("CLUSTER", "MEET", "127.0.0.1", Integer.toString(nodes.get(i).port()));
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      for (int i = masters; i < total; i++) {
        String masterId = ((String) nodes.get(i - masters).command("CLUSTER", "MYID")).trim();
        while (true) {
          try {
            nodes.get(i).command("CLUSTER", "REPLICATE", masterId);
            break;
          } catch (IOException unknownYet) {
            if (System.nanoTime() > deadline) {
              throw unknownYet;
            }
            Thread.sleep(50); // the replica has not heard of its master through gossip yet
          }
        }
      }
      for (RedisProcess node : nodes) {
        while (true) {
          String info = (String) node.command("CLUSTER", "INFO");
          boolean synced = !withReplicas || nodes.indexOf(node) < masters
              || ((String) node.command("INFO", "replication")).contains("master_link_status:up");
          if (synced && info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:" + total + "\r\n")) {
            break;
          }
          if (System.nanoTime() > deadline) {
            throw new IOException("the cluster did not form within 30 s: " + info);
          }
          Thread.sleep(50);
        }
      }
      return nodes;
    } catch (Exception e) {
      for (RedisProcess node : nodes) {
        node.close();
      }
      throw e;
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  private void launch() throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    if (sentinelConfig != null) {
      command.addAll(List.of("redis-server", sentinelConfig.toString(), "--sentinel", "--port",
          Integer.toString(port), "--bind", "127.0.0.1", "--dir", dir.toString()));
    } else {
      command.addAll(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--dir", dir.toString()));
    }
    command.addAll(extraArgs);
    Files.createDirectories(dir);
    process = new ProcessBuilder(command)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("redis-" + port + ".log").toFile()))
        .start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("redis-server on port " + port + " exited with " + process.exitValue() + "; see "
            + dir.resolve("redis-" + port + ".log"));
      }
      String info;
      try {
        info = (String) command("INFO", "server");
      } catch (IOException notYet) {
        info = null; // still starting
      }
      if (info != null) {
        // The port was free when it was picked, but another test on this machine may have taken it since: only our
        // own process counts as started, or a test would steer (and count in) someone else's server.
        if (info.contains("process_id:" + process.pid() + "\r\n")) {
          return;
        }
        process.destroyForcibly();
        throw new IOException("port " + port + " was taken by another redis-server before ours could bind it");
      }
      Thread.sleep(20);
    }
    process.destroyForcibly();
    throw new IOException("redis-server on port " + port + " did not answer INFO within 10 s");
  }

  public int port() {
    return port;
  }

  /** {@code redis://127.0.0.1:port}. */
  public String uri() {
    return "redis://127.0.0.1:" + port;
  }

  /** Kills the server abruptly (SIGKILL), as a crash would. */
  public void kill() throws InterruptedException {
    resume();
    process.destroyForcibly();
    process.waitFor(10, TimeUnit.SECONDS);
  }

  /**
   * Kills the server (SIGKILL) and keeps its port bound, refusing every connection (accepted, then closed at once),
   * until {@link #restart} or {@link #close}: another test on this machine cannot start a server there that clients
   * or Sentinels still pointed at this one would take for it.
   */
  public void killAndHoldPort() throws Exception {
    kill();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (true) {
      try {
        holder = new PortHolder(port);
        return;
      } catch (IOException stillClosing) {
        if (System.nanoTime() > deadline) {
          throw stillClosing;
        }
        Thread.sleep(10);
      }
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered, as a stalled machine would. */
  public void pause() throws Exception {
    signal("STOP");
    paused = true;
  }

  /** Lets a {@link #pause}d server run again (SIGCONT). */
  public void resume() throws InterruptedException {
    if (paused) {
      try {
        signal("CONT");
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
      paused = false;
    }
  }

  private void signal(String name) throws IOException, InterruptedException {
    Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      throw new IOException("kill -" + name + " " + process.pid() + " failed");
    }
  }

  /** Starts the server again on the same port (empty: nothing was persisted). */
  public void restart() throws Exception {
    if (process.isAlive()) {
      kill();
    }
    releasePort();
    launch();
  }

  private void releasePort() {
    if (holder != null) {
      holder.close();
      holder = null;
    }
  }

  /** Accepts connections on a port and closes each at once. */
  private static final class PortHolder implements AutoCloseable {
    private final ServerSocket socket;

    PortHolder(int port) throws IOException {
      socket = new ServerSocket();
      socket.bind(new InetSocketAddress("127.0.0.1", port));
      Thread accepter = new Thread(() -> {
        while (!socket.isClosed()) {
          try {
            socket.accept().close();
          } catch (IOException closed) {
            // closed by close()
          }
        }
      }, "redis-port-holder-" + port);
      accepter.setDaemon(true);
      accepter.start();
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  /**
   * Sends one command and returns its reply: a String (simple or bulk), a Long, a List, or null.
   *
   * @throws IOException when the connection fails or Redis answers with an error
   */
  public Object command(String... args) throws IOException {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress("127.0.0.1", port), 1_000);
      socket.setSoTimeout(10_000);
      return send(socket, args);
    }
  }

  /** Sends a command without waiting for its reply (e.g. {@code DEBUG SLEEP}); the socket closes later. */
  public Thread commandInBackground(String... args) {
    Thread t = new Thread(() -> {
      try {
        command(args);
      } catch (IOException ignored) {
        // the test observes the effect, not the reply
      }
    }, "redis-background-command");
    t.setDaemon(true);
    t.start();
    return t;
  }

  private static Object send(Socket socket, String... args) throws IOException {
    OutputStream out = socket.getOutputStream();
    StringBuilder request = new StringBuilder("*").append(args.length).append("\r\n");
    for (String arg : args) {
      byte[] bytes = arg.getBytes(StandardCharsets.UTF_8);
      request.append('$').append(bytes.length).append("\r\n").append(arg).append("\r\n");
    }
    out.write(request.toString().getBytes(StandardCharsets.UTF_8));
    out.flush();
    return read(new BufferedInputStream(socket.getInputStream()));
  }

  private static Object read(InputStream in) throws IOException {
    int type = in.read();
    String line = line(in);
    switch (type) {
      case '+':
        return line;
      case '-':
        throw new IOException("Redis error: " + line);
      case ':':
        return Long.parseLong(line);
      case '$': {
        int length = Integer.parseInt(line);
        if (length < 0) {
          return null;
        }
        byte[] bytes = in.readNBytes(length + 2);
        return new String(bytes, 0, length, StandardCharsets.UTF_8);
      }
      case '*': {
        int count = Integer.parseInt(line);
        if (count < 0) {
          return null;
        }
        List<Object> items = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
          items.add(read(in));
        }
        return items;
      }
      default:
        throw new IOException("unexpected reply type " + type);
    }
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder line = new StringBuilder();
    int c;
    while ((c = in.read()) != '\r') {
      if (c < 0) {
        throw new IOException("connection closed");
      }
      line.append((char) c);
    }
    in.read(); // '\n'
    return line.toString();
  }

  @Override
  public void close() throws InterruptedException {
    releasePort();
    if (process != null && process.isAlive()) {
      resume();
      process.destroy();
      if (!process.waitFor(5, TimeUnit.SECONDS)) {
        process.destroyForcibly();
        process.waitFor(5, TimeUnit.SECONDS);
      }
    }
  }
}
