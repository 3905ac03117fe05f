package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.HeapStateBuffer;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.Verdict;
import dev.ratelimit.store.CounterStore;
import dev.ratelimit.store.StateUpdate;
import dev.ratelimit.store.StoreException;
import io.lettuce.core.RedisCommandExecutionException;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.cluster.SlotHash;
import io.lettuce.core.cluster.api.async.RedisClusterAsyncCommands;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared store (docs/redis.md): limiter state in Redis (standalone, Sentinel or Cluster), so that several replicas
 * enforce one limit together. Each decision is one atomic Lua script ({@code ratelimit.lua}, loaded once and called
 * by SHA) implementing exactly the algorithms of {@code dev.ratelimit.limiter}; all descriptors of one request go in
 * one call (one per hash slot on a cluster, sent together), so a request costs one round trip. Every {@link Limiter}
 * has its script function ({@link LuaScript#appendArguments}). The one update computed in Java ({@link #update}, the
 * dynamic quota ledger) reads the state, computes, and writes it back with an atomic compare-and-set script, retrying
 * when another replica changed it in between.
 *
 * <p><b>Clock.</b> With {@link TimeSource#REDIS} (production) the script reads Redis {@code TIME} and the
 * {@code nowMillis} callers pass is ignored for the decision; it only times the local over-limit cache.
 *
 * <p><b>Keys.</b> {@code <prefix>{<base64url of the counter key>}}: the whole counter key is the hash tag, so all
 * state of one counter lives in one slot. Each key expires by itself when its newest recorded hit ages out
 * ({@code PEXPIRE} from the script's clock), so no sweeper is needed.
 *
 * <p><b>Failures.</b> Unreachable, disconnected or slower than the timeout: the affected descriptors fail with
 * {@link StoreException.Kind#UNAVAILABLE} ({@code OOM} from a full Redis: {@link StoreException.Kind#FULL}) and the
 * service's failure mode answers; Lettuce reconnects in the background. Each script call carries its deadline in
 * Redis's clock ({@link RedisClockOffset}), past which the script writes nothing, so a call Redis runs after this
 * replica gave up never counts.
 *
 * <p><b>Failovers and health.</b> The connection ({@link RedisConnection}) follows Sentinel and Cluster failovers;
 * each call's outcome feeds it and {@link StoreHealth}, which, with a background probe, decides {@link #isOpen()}
 * (readiness).
 *
 * <p>Over 250 lines because one request's path through Redis is one piece: the local over-limit cache, routing by
 * hash slot, script calls with their deadlines, refunds across slots and the failure of each call. Connections and
 * failovers ({@link RedisConnection}), health ({@link StoreHealth}), the clock offset, start-up retries, settings and
 * meters ({@link RedisBackend}) each have their own class.
 */
public final class RedisStore implements CounterStore {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);
  /**
   * Compare-and-set attempts of one update (the timeout bounds them too). A loser retries only after another writer
   * succeeded, so under contention each attempt is someone's progress; on a CPU-starved machine 64 proved too few for
   * four threads on one key.
   */
  private static final int MAX_CAS_ATTEMPTS = 256;
  private static final byte[] EMPTY = new byte[0];
  private static final byte[] GET = LuaScript.ascii("get");
  private static final byte[] CAS = LuaScript.ascii("cas");
  private static final byte[] INDEPENDENT = LuaScript.ascii("independent");
  private static final byte[] NOWHERE = LuaScript.ascii("nowhere");
  private static final byte[] REJECTED = LuaScript.ascii("rejected");
  private static final byte[] REFUND = LuaScript.ascii("refund");
  /** How often the background probe asks Redis whether it can decide. */
  private static final long PROBE_MILLIS = 500;
  /** Not ready once this many outcomes in a row failed ... */
  private static final int UNHEALTHY_AFTER_FAILURES = 3;
  /** ... and none succeeded for this long. */
  private static final Duration UNHEALTHY_AFTER = Duration.ofSeconds(1);

  private final RedisSettings settings;
  private final RedisConnection connection;
  private final LuaScript script;
  private final LuaScript stateScript;
  private final byte[] prefix;
  private final OverLimitCache overLimit;
  private final long timeoutNanos;
  private final ScheduledExecutorService monitor;
  private final RedisClockOffset clock;
  private final StoreHealth health;
  private final AtomicLong localRejections = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();
  private final AtomicLong decidedByRedis = new AtomicLong();
  private final AtomicLong answeredByFailureMode = new AtomicLong();
  private volatile boolean closed;

  private RedisStore(RedisSettings settings, RedisConnection connection, LuaScript script, LuaScript stateScript,
      ScheduledExecutorService monitor, RedisClockOffset clock) {
    this.settings = settings;
    this.connection = connection;
    this.script = script;
    this.stateScript = stateScript;
    this.prefix = settings.keyPrefix().getBytes(StandardCharsets.UTF_8);
    this.overLimit = new OverLimitCache(settings.overLimitCacheSize(),
        connection.cluster() ? OverLimitCache.CLUSTER_MAX_AGE_MILLIS : Long.MAX_VALUE);
    this.timeoutNanos = settings.timeout().toNanos();
    this.monitor = monitor;
    this.clock = clock;
    this.health = new StoreHealth(UNHEALTHY_AFTER_FAILURES, UNHEALTHY_AFTER, System::nanoTime);
  }

  /**
   * Connects and loads the scripts, retrying (each attempt up to {@value StartupRetry#ATTEMPT_SECONDS} s, with back-off) until
   * the start-up timeout: Redis may start after this server, or be briefly busy.
   *
   * @throws IOException when Redis cannot be reached or refuses the script within the start-up timeout
   */
  public static RedisStore open(RedisSettings settings) throws IOException {
    Objects.requireNonNull(settings, "settings");
    LuaScript script = LuaScript.load();
    LuaScript stateScript = LuaScript.load("state.lua");
    StartupRetry startup = new StartupRetry(settings);
    ScheduledExecutorService monitor = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ratelimit-redis-monitor");
      t.setDaemon(true);
      return t;
    });
    RedisConnection connection = null;
    try {
      RedisConnection.Options options = new RedisConnection.Options(settings.uri(), settings.timeout(),
          settings.topologyRefresh(), List.of(script.source(), stateScript.source()));
      connection = startup.retry("cannot connect to Redis at " + settings.uri(),
          remaining -> RedisConnection.open(options, monitor));
      RedisConnection connected = connection;
      for (LuaScript s : List.of(script, stateScript)) {
        String sha = startup.retry("cannot load the rate-limit script into Redis at " + settings.uri(),
            remaining -> connected.commands().scriptLoad(s.source()).get(remaining.toMillis(), TimeUnit.MILLISECONDS));
        if (!s.sha1().equals(sha)) {
          throw new IOException("Redis returned SHA " + sha + " for a script, expected " + s.sha1());
        }
      }
      // One call with no keys: proves the script runs on this Redis, warms the path before the first request and
      // gives the first reading of Redis's clock.
      RedisClockOffset clock = new RedisClockOffset();
      String node = connected.nodeOf(new byte[0]);
      startup.retry("cannot run the rate-limit script on Redis at " + settings.uri(), remaining -> {
        List<Object> reply = connected.commands().<List<Object>>evalsha(script.sha1(), ScriptOutputType.MULTI,
            new byte[0][], LuaScript.timeArgument(TimeSource.REDIS, 0), INDEPENDENT).get(remaining.toMillis(), TimeUnit.MILLISECONDS);
        clock.sample(node, (Long) reply.get(0), System.nanoTime());
        return reply;
      });
      RedisStore store = new RedisStore(settings, connection, script, stateScript, monitor, clock);
      store.startProbing();
      log.info("Redis store at {} ({}), timeout {}, key prefix '{}', over-limit cache {}, clock {}, topology "
              + "checked every {}", settings.uri(), connection.describe(), settings.timeout(), settings.keyPrefix(),
          settings.overLimitCacheSize(), settings.timeSource(), settings.topologyRefresh());
      return store;
    } catch (IOException | RuntimeException e) {
      if (connection != null) {
        connection.close();
      }
      monitor.shutdownNow();
      throw e;
    }
  }

  /** Probes Redis in the background, so readiness follows Redis even without traffic. */
  private void startProbing() {
    monitor.scheduleWithFixedDelay(() -> {
      if (closed) {
        return;
      }
      try {
        Boolean ok = connection.probe(settings.timeout()).toCompletableFuture()
            .get(settings.timeout().toMillis() + 1_000, TimeUnit.MILLISECONDS);
        if (Boolean.TRUE.equals(ok)) {
          health.succeeded();
        } else {
          health.failed("the background probe got no answer within " + settings.timeout().toMillis() + " ms");
        }
      } catch (Exception e) {
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
          return;
        }
        health.failed("the background probe failed: " + e);
      }
      health.evaluate();
    }, PROBE_MILLIS, PROBE_MILLIS, TimeUnit.MILLISECONDS);
  }

  public RedisSettings settings() {
    return settings;
  }

  @Override
  public Verdict apply(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
    Result result = applyAll(List.of(new Op(key, limiter, hits, limit)), nowMillis, Batch.INDEPENDENT)[0];
    if (result.failure() != null) {
      throw result.failure();
    }
    return result.verdict();
  }

  /**
   * Takes hits back at {@code nowMillis} (with {@link TimeSource#REDIS}: at Redis's time now). The store's own batches
   * take back the hits of a rejected request inside the deciding script, or at that script's time.
   */
  @Override
  public void refund(byte[] key, Limiter limiter, long nowMillis, long hits, long limit) {
    long deadline = System.nanoTime() + timeoutNanos;
    Call call = send(List.of(new Op(key, limiter, hits, limit)), List.of(0), REFUND,
        node -> LuaScript.timeArgument(settings.timeSource(), nowMillis));
    try {
      await(call, deadline);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      throw failure(e);
    }
  }

  @Override
  public Result[] applyAll(List<Op> ops, long nowMillis, Batch batch) {
    long deadline = System.nanoTime() + timeoutNanos;
    Result[] results = new Result[ops.size()];
    boolean rejectedLocally = false;
    // Ops not answered locally, grouped by the calls that carry them (one per slot on a cluster, else one).
    Map<Integer, List<Integer>> routes = new LinkedHashMap<>();
    for (int i = 0; i < results.length; i++) {
      Op op = ops.get(i);
      Verdict cached = cacheable(op) ? overLimit.rejection(op.key(), op.hits(), op.limit(), nowMillis) : null;
      if (cached != null) {
        localRejections.incrementAndGet();
        results[i] = Result.of(cached);
        rejectedLocally |= batch.rejects(op, results[i]);
        continue;
      }
      int route = connection.cluster() ? SlotHash.getSlot(redisKey(op.key())) : 0;
      routes.computeIfAbsent(route, r -> new ArrayList<>(2)).add(i);
    }
    if (routes.isEmpty()) {
      return results;
    }
    byte[] mode = !batch.countNowhere() ? INDEPENDENT : rejectedLocally ? REJECTED : NOWHERE;
    List<Call> calls = new ArrayList<>(routes.size());
    for (List<Integer> indexes : routes.values()) {
      calls.add(send(ops, indexes, mode, node -> clockArgument(node, nowMillis, deadline)));
    }
    long[] scriptNow = new long[calls.size()];
    for (int c = 0; c < calls.size(); c++) {
      scriptNow[c] = complete(calls.get(c), ops, results, deadline);
    }
    boolean takenBack = mode != INDEPENDENT && batch.rejects(ops, results);
    if (takenBack && mode == NOWHERE && calls.size() > 1) {
      refundAcrossCalls(ops, results, calls, scriptNow, deadline);
    }
    rememberRejections(ops, results, calls, scriptNow, nowMillis, takenBack);
    return results;
  }

  /**
   * A request rejected by one call of a cluster batch (or by a failure): the other calls admitted hits that their
   * scripts could not know to take back. Each is taken back at its own call's script time, in one call per slot.
   * A refund that fails leaves the hits counted (over-counting, never under).
   */
  private void refundAcrossCalls(List<Op> ops, Result[] results, List<Call> calls, long[] scriptNow, long deadline) {
    List<Call> refunds = new ArrayList<>();
    for (int c = 0; c < calls.size(); c++) {
      Call call = calls.get(c);
      boolean refundedByScript = false;
      List<Integer> recorded = new ArrayList<>();
      for (int i : call.indexes()) {
        Result result = results[i];
        refundedByScript |= result.verdict() != null && ops.get(i).enforcing() && result.verdict().overLimit();
        if (Batch.recorded(ops.get(i), result)) {
          recorded.add(i);
        }
      }
      if (!refundedByScript && !recorded.isEmpty()) {
        byte[] at = LuaScript.number(scriptNow[c]);
        refunds.add(send(ops, recorded, REFUND, node -> at));
      }
    }
    for (Call refund : refunds) {
      try {
        await(refund, deadline);
      } catch (ExecutionException | TimeoutException | RuntimeException e) {
        failures.incrementAndGet();
      }
    }
  }

  /**
   * Caches the rejections Redis decided, except on a key whose hits this request took back: the rejection's count
   * includes them, so it would reject requests that fit.
   */
  private void rememberRejections(List<Op> ops, Result[] results, List<Call> calls, long[] scriptNow, long nowMillis,
      boolean takenBack) {
    for (int c = 0; c < calls.size(); c++) {
      for (int i : calls.get(c).indexes()) {
        Verdict verdict = results[i].verdict();
        if (verdict == null || !verdict.overLimit() || !cacheable(ops.get(i))
            || (takenBack && recordedInRequest(ops, results, ops.get(i).key()))) {
          continue;
        }
        // The reset is on the script's clock; the cache keeps it as a duration on this replica's clock.
        overLimit.remember(ops.get(i).key(), verdict, nowMillis, nowMillis + (verdict.resetAtMillis() - scriptNow[c]));
      }
    }
  }

  private static boolean recordedInRequest(List<Op> ops, Result[] results, byte[] key) {
    for (int j = 0; j < results.length; j++) {
      if (Batch.recorded(ops.get(j), results[j]) && Arrays.equals(ops.get(j).key(), key)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether a rejection of this op may be answered locally. Not with a penalty: its rejected hits count towards
   * starting it, so each one must reach Redis.
   */
  private static boolean cacheable(Op op) {
    return !(op.limiter() instanceof PenaltyLimiter);
  }

  /** The arguments of one script call, the node it went to and its reply in flight, or why it could not be sent. */
  private record Call(List<Integer> indexes, byte[][] keys, byte[][] args, String node,
      RedisFuture<List<Object>> reply, RuntimeException refused) {}

  /** Sends one script call in {@code mode}; its clock argument is made for the node the keys live on. */
  private Call send(List<Op> ops, List<Integer> indexes, byte[] mode, Function<String, byte[]> clockFor) {
    byte[][] keys = new byte[indexes.size()][];
    List<byte[]> args = new ArrayList<>(2 + 8 * indexes.size());
    args.add(null); // the clock, once the node is known
    args.add(mode);
    for (int j = 0; j < keys.length; j++) {
      Op op = ops.get(indexes.get(j));
      keys[j] = redisKey(op.key());
      LuaScript.appendArguments(args, op.limiter(), op.hits(), op.limit(), op.enforcing());
    }
    String node = connection.nodeOf(keys[0]);
    args.set(0, clockFor.apply(node));
    byte[][] argv = args.toArray(new byte[0][]);
    try {
      return new Call(indexes, keys, argv, node,
          commands().evalsha(script.sha1(), ScriptOutputType.MULTI, keys, argv), null);
    } catch (RuntimeException e) {
      // refused before sending (e.g. no connection to the slot's node)
      return new Call(indexes, keys, argv, node, null, e);
    }
  }

  /** Waits for a call's reply (a NOSCRIPT reloads the script once) and books it; throws what kept it from one. */
  private List<Object> await(Call call, long deadline) throws ExecutionException, TimeoutException {
    if (call.refused() != null) {
      throw call.refused();
    }
    try {
      List<Object> reply = awaitScript(script, call.reply(), call.keys(), call.args(), deadline);
      answered(call.node(), reply);
      return reply;
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      call.reply().cancel(false);
      throw e;
    }
  }

  /**
   * The script's clock argument: the time, and the local deadline in Redis's clock so that a call Redis runs after
   * this replica gave up (and answered by the failure mode) changes nothing. Only with Redis's own clock: a caller's
   * clock says nothing about Redis {@code TIME}.
   */
  private byte[] clockArgument(String node, long nowMillis, long deadline) {
    long redisDeadline = settings.timeSource() == TimeSource.REDIS
        ? clock.redisDeadline(node, deadline, marginMillis()) : LuaScript.NO_DEADLINE;
    return LuaScript.clockArgument(settings.timeSource(), nowMillis, redisDeadline);
  }

  /**
   * How early deadlines reach Redis: 2 ms for millisecond rounding, plus the reply's way back to the waiting thread
   * (a call Redis ran just in time must not be answered too late): a quarter of the timeout, or the recent lag of
   * replies when this JVM is busier than that, up to half the timeout.
   */
  private long marginMillis() {
    long timeoutMillis = settings.timeout().toMillis();
    long wayBack = Math.max(Math.max(1, timeoutMillis / 4), clock.recentLagMillis());
    return 2 + Math.min(wayBack, Math.max(1, timeoutMillis / 2));
  }

  /** Bookkeeping of a reply from {@code node}: its clock, its health. */
  private void answered(String node, List<Object> reply) {
    if (settings.timeSource() == TimeSource.REDIS) {
      clock.sample(node, (Long) reply.get(0), System.nanoTime());
    }
    connection.succeeded(node);
    health.succeeded();
  }

  /** Fills in the results of one call; returns the script's time (0 when the call failed). */
  private long complete(Call call, List<Op> ops, Result[] results, long deadline) {
    List<Object> reply;
    try {
      reply = await(call, deadline);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      fail(call, results, e);
      return 0;
    }
    decidedByRedis.addAndGet(call.indexes().size());
    long scriptNow = (Long) reply.get(0);
    for (int j = 0; j < call.indexes().size(); j++) {
      int i = call.indexes().get(j);
      Op op = ops.get(i);
      int at = 1 + 4 * j;
      results[i] = Result.of(new Verdict((Long) reply.get(at) != 0, op.limit(), (Long) reply.get(at + 1),
          (Long) reply.get(at + 2), (Long) reply.get(at + 3)));
    }
    return scriptNow;
  }

  /**
   * Applies {@code update} atomically: reads the state, applies the update on a copy and writes it back only if no
   * other replica changed it meanwhile (else starts again). Time: Redis's or the caller's, per the time source.
   */
  @Override
  public <R> R update(byte[] key, StateUpdate<R> update, long nowMillis) {
    int stateSize = update.stateSize();
    long deadline = System.nanoTime() + timeoutNanos;
    byte[][] keys = {redisKey(key)};
    String node = connection.nodeOf(keys[0]);
    byte[] time = LuaScript.timeArgument(settings.timeSource(), nowMillis);
    byte[] clockWithDeadline = clockArgument(node, nowMillis, deadline);
    try {
      List<Object> read = run(stateScript, node, keys, new byte[][] {GET, time}, deadline);
      long now = (Long) read.get(0);
      byte[] stored = (byte[]) read.get(1);
      for (int attempt = 1; ; attempt++) {
        byte[] state = stored.length == stateSize ? stored.clone() : new byte[stateSize];
        R result = update.apply(new HeapStateBuffer(state), now);
        long expiresAt = HeapStateBuffer.expiresAt(state);
        byte[] written = expiresAt > now ? state : EMPTY; // expiry 0 (or passed): the key is not kept
        if (Arrays.equals(written, stored)) {
          return result;
        }
        byte[] ttl = LuaScript.number(Math.max(1, expiresAt - now));
        List<Object> swapped = run(stateScript, node, keys, new byte[][] {CAS, stored, written, ttl,
            clockWithDeadline}, deadline);
        if ((Long) swapped.get(0) == 1) {
          return result;
        }
        if (attempt == MAX_CAS_ATTEMPTS) {
          break;
        }
        // Another replica won: retry on the state it left (returned with the refusal), after a short random pause
        // that spreads contending writers apart.
        now = (Long) swapped.get(1);
        stored = (byte[]) swapped.get(2);
        LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(1_000L << Math.min(attempt, 10)));
      }
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      unanswered(node, e);
      throw failure(e);
    }
    throw failed(StoreException.Kind.UNAVAILABLE, "the state changed under " + MAX_CAS_ATTEMPTS
        + " attempts in a row (heavy contention on one key)", null);
  }

  /** Runs a script on {@code node}'s keys and waits until the deadline; replies as a list. */
  private List<Object> run(LuaScript lua, String node, byte[][] keys, byte[][] args, long deadline)
      throws ExecutionException, TimeoutException {
    List<Object> reply = asList(awaitScript(lua,
        commands().<Object>evalsha(lua.sha1(), ScriptOutputType.MULTI, keys, args), keys, args, deadline));
    connection.succeeded(node);
    health.succeeded();
    return reply;
  }

  /**
   * Waits until the deadline for a script call sent by SHA. The one place that handles {@code NOSCRIPT} (Redis
   * restarted or failed over and lost its script cache): the call is sent again by source ({@code EVAL}), which runs
   * the script and caches it again. The same arguments carry the same deadline, so a late re-run changes nothing.
   */
  private <T> T awaitScript(LuaScript lua, RedisFuture<T> sent, byte[][] keys, byte[][] args, long deadline)
      throws ExecutionException, TimeoutException {
    try {
      return await(sent, deadline);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RedisNoScriptException) {
        return await(commands().<T>eval(lua.source(), ScriptOutputType.MULTI, keys, args), deadline);
      }
      throw e;
    }
  }

  @SuppressWarnings("unchecked")
  private static List<Object> asList(Object reply) {
    return reply instanceof List<?> list ? (List<Object>) list : List.of(reply);
  }

  private static <T> T await(RedisFuture<T> future, long deadline)
      throws ExecutionException, TimeoutException {
    try {
      return future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TimeoutException("interrupted while waiting for Redis");
    }
  }

  private void fail(Call call, Result[] results, Exception e) {
    unanswered(call.node(), e);
    Result failure = Result.of(failure(e));
    for (int i : call.indexes()) {
      results[i] = failure;
    }
    answeredByFailureMode.addAndGet(call.indexes().size());
  }

  /** Bookkeeping of a call to {@code node} that got no verdict: a sign of a failover, or of Redis unable to decide. */
  private void unanswered(String node, Exception e) {
    Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    connection.failed(node, cause);
    health.failed(e instanceof TimeoutException ? "no answer within " + settings.timeout().toMillis() + " ms"
        : String.valueOf(cause));
  }

  /** The store failure for an error talking to Redis: FULL for Redis's out-of-memory error, else UNAVAILABLE. */
  private StoreException failure(Exception e) {
    Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    StoreException.Kind kind = cause instanceof RedisCommandExecutionException
        && String.valueOf(cause.getMessage()).startsWith("OOM")
        ? StoreException.Kind.FULL : StoreException.Kind.UNAVAILABLE;
    String message = e instanceof TimeoutException
        ? "Redis did not answer within " + settings.timeout().toMillis() + " ms"
        : expired(cause) ? "Redis ran the call after this replica gave up on it (" + settings.timeout().toMillis()
            + " ms); nothing was counted"
        : "Redis failed: " + cause;
    return failed(kind, message, cause);
  }

  /** The script's refusal to run past the caller's deadline. */
  private static boolean expired(Throwable cause) {
    return cause instanceof RedisCommandExecutionException && String.valueOf(cause.getMessage()).startsWith("EXPIRED");
  }

  /** A failed decision; the service counts and logs it (throttled), so nothing is logged here. */
  private StoreException failed(StoreException.Kind kind, String message, Throwable cause) {
    failures.incrementAndGet();
    return new StoreException(kind, "Redis at " + settings.uri() + ": " + message, cause);
  }

  /** The Redis key of a counter: prefix, then the whole counter key as the hash tag. */
  byte[] redisKey(byte[] key) {
    byte[] encoded = Base64.getUrlEncoder().withoutPadding().encode(key);
    byte[] redisKey = new byte[prefix.length + encoded.length + 2];
    System.arraycopy(prefix, 0, redisKey, 0, prefix.length);
    redisKey[prefix.length] = '{';
    System.arraycopy(encoded, 0, redisKey, prefix.length + 1, encoded.length);
    redisKey[redisKey.length - 1] = '}';
    return redisKey;
  }

  private RedisClusterAsyncCommands<byte[], byte[]> commands() {
    return connection.commands();
  }

  /** Requests rejected from the local over-limit cache without asking Redis. */
  public long localRejections() {
    return localRejections.get();
  }

  /** Keys held in the local over-limit cache. */
  public int overLimitCacheSize() {
    return overLimit.size();
  }

  /** Descriptors Redis could not decide (timeouts, disconnections, errors). */
  public long failures() {
    return failures.get();
  }

  /** Descriptors decided by Redis (not by the local cache, not by the failure mode). */
  public long decidedByRedis() {
    return decidedByRedis.get();
  }

  /** Descriptors answered by the failure mode because Redis could not decide in time. */
  public long answeredByFailureMode() {
    return answeredByFailureMode.get();
  }

  /** Failovers followed: a new master named by Sentinel, or new masters in the cluster's topology. */
  public long failoversFollowed() {
    return connection.failoversFollowed();
  }

  /**
   * True while Redis can decide: false once the last few calls and probes all failed and none succeeded for a
   * second (Redis down, no reachable master, {@code cluster_state:fail}, every call timing out), true again at the
   * first success. A background probe keeps this current without traffic.
   */
  public boolean isOpen() {
    return !closed && health.canDecide();
  }

  /** Runs {@code listener} whenever {@link #isOpen} may have changed. */
  public void onReadinessChange(Runnable listener) {
    health.onChange(listener);
  }

  /**
   * Keys in the Redis database (all of them, not only this server's, unless the database is dedicated); -1 when Redis
   * cannot answer.
   */
  @Override
  public long size() {
    try {
      return commands().dbsize().get(Math.max(timeoutNanos, TimeUnit.SECONDS.toNanos(1)), TimeUnit.NANOSECONDS);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  @Override
  public void close() {
    closed = true;
    monitor.shutdownNow();
    connection.close();
  }
}
