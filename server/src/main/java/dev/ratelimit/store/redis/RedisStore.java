package dev.ratelimit.store.redis;

import dev.ratelimit.limiter.HeapStateBuffer;
import dev.ratelimit.limiter.Limiter;
import dev.ratelimit.limiter.PenaltyLimiter;
import dev.ratelimit.limiter.StateBuffer;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The shared store (docs/redis.md): limiter state in Redis (standalone, Sentinel or Cluster), so that several replicas
 * enforce one limit together. Each decision is one atomic Lua script ({@code ratelimit.lua}, loaded once and called
 * by SHA) implementing exactly the algorithms of {@code dev.ratelimit.limiter}; all descriptors of one request go in
 * one call (one per hash slot on a cluster, sent together), so a request costs one round trip. Updates computed in
 * Java ({@link #update}: the dynamic quota ledger; and any limiter without a Lua port, e.g. a penalty inside a penalty)
 * read the state, compute, and write it back with an atomic compare-and-set script, retrying when another replica
 * changed it in between.
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
 * service's failure mode answers; Lettuce reconnects in the background. A call that timed out may still have been
 * counted by Redis.
 */
public final class RedisStore implements CounterStore {
  private static final Logger log = LoggerFactory.getLogger(RedisStore.class);
  private static final byte[] EMPTY = new byte[0];
  private static final byte[] GET = LuaScript.ascii("get");
  private static final byte[] CAS = LuaScript.ascii("cas");
  private static final byte[] INDEPENDENT = LuaScript.ascii("independent");
  private static final byte[] NOWHERE = LuaScript.ascii("nowhere");
  private static final byte[] REJECTED = LuaScript.ascii("rejected");
  private static final byte[] REFUND = LuaScript.ascii("refund");

  /**
   * How to reach Redis and decide there.
   *
   * @param uri {@code redis://host:port}, {@code rediss://...}, {@code redis-sentinel://host:port#master} or
   *     {@code redis-cluster://host:port,host:port}
   * @param timeout longest wait for Redis per request before the failure mode answers
   * @param keyPrefix prepended to every key (lets several deployments share one Redis)
   * @param overLimitCacheSize keys whose rejection is remembered locally until their reset; 0 disables
   * @param timeSource the clock decisions use
   */
  public record Settings(String uri, Duration timeout, String keyPrefix, int overLimitCacheSize,
      TimeSource timeSource) {
    public Settings {
      Objects.requireNonNull(uri, "uri");
      Objects.requireNonNull(timeout, "timeout");
      Objects.requireNonNull(keyPrefix, "keyPrefix");
      Objects.requireNonNull(timeSource, "timeSource");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("the Redis timeout must be positive, not " + timeout);
      }
      if (overLimitCacheSize < 0) {
        throw new IllegalArgumentException("the over-limit cache size must be 0 or more, not " + overLimitCacheSize);
      }
      if (keyPrefix.indexOf('{') >= 0 || keyPrefix.indexOf('}') >= 0) {
        throw new IllegalArgumentException("the Redis key prefix must not contain '{' or '}' (they mark hash tags)");
      }
    }

    /** Production defaults for {@code uri}: 50 ms timeout, prefix {@code rl:}, 100,000 cached rejections, Redis TIME. */
    public static Settings defaults(String uri) {
      return new Settings(uri, Duration.ofMillis(50), "rl:", 100_000, TimeSource.REDIS);
    }

    public Settings withTimeout(Duration newTimeout) {
      return new Settings(uri, newTimeout, keyPrefix, overLimitCacheSize, timeSource);
    }

    public Settings withKeyPrefix(String newPrefix) {
      return new Settings(uri, timeout, newPrefix, overLimitCacheSize, timeSource);
    }

    public Settings withOverLimitCacheSize(int newSize) {
      return new Settings(uri, timeout, keyPrefix, newSize, timeSource);
    }

    public Settings withTimeSource(TimeSource newSource) {
      return new Settings(uri, timeout, keyPrefix, overLimitCacheSize, newSource);
    }
  }

  private final Settings settings;
  private final RedisConnection connection;
  private final LuaScript script;
  private final LuaScript stateScript;
  private final byte[] prefix;
  private final OverLimitCache overLimit;
  private final long timeoutNanos;
  private final AtomicLong localRejections = new AtomicLong();
  private final AtomicLong failures = new AtomicLong();

  private RedisStore(Settings settings, RedisConnection connection, LuaScript script, LuaScript stateScript) {
    this.settings = settings;
    this.connection = connection;
    this.script = script;
    this.stateScript = stateScript;
    this.prefix = settings.keyPrefix().getBytes(StandardCharsets.UTF_8);
    this.overLimit = new OverLimitCache(settings.overLimitCacheSize(),
        connection.cluster() ? OverLimitCache.CLUSTER_MAX_AGE_MILLIS : Long.MAX_VALUE);
    this.timeoutNanos = settings.timeout().toNanos();
  }

  /**
   * Connects and loads the script.
   *
   * @throws IOException when Redis cannot be reached or refuses the script
   */
  public static RedisStore open(Settings settings) throws IOException {
    Objects.requireNonNull(settings, "settings");
    LuaScript script = LuaScript.load();
    LuaScript stateScript = LuaScript.load("state.lua");
    RedisConnection connection;
    try {
      connection = RedisConnection.open(settings.uri(), settings.timeout());
    } catch (IllegalArgumentException e) {
      throw new IOException(e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new IOException("cannot connect to Redis at " + settings.uri() + ": " + e.getMessage(), e);
    }
    try {
      for (LuaScript s : List.of(script, stateScript)) {
        String sha = connection.commands().scriptLoad(s.source()).get(10, TimeUnit.SECONDS);
        if (!s.sha1().equals(sha)) {
          throw new IOException("Redis returned SHA " + sha + " for a script, expected " + s.sha1());
        }
      }
      // One call with no keys: proves the script runs on this Redis and warms the path before the first request.
      connection.commands().evalsha(script.sha1(), ScriptOutputType.MULTI, new byte[0][],
          LuaScript.timeArgument(settings.timeSource(), 0), INDEPENDENT).get(10, TimeUnit.SECONDS);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      connection.close();
      throw new IOException("cannot load the rate-limit script into Redis at " + settings.uri() + ": " + e, e);
    } catch (InterruptedException e) {
      connection.close();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while loading the rate-limit script", e);
    }
    log.info("Redis store at {} ({}), timeout {}, key prefix '{}', over-limit cache {}, clock {}",
        settings.uri(), connection.cluster() ? "cluster" : "standalone or sentinel", settings.timeout(),
        settings.keyPrefix(), settings.overLimitCacheSize(), settings.timeSource());
    return new RedisStore(settings, connection, script, stateScript);
  }

  public Settings settings() {
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
    Op op = new Op(key, limiter, hits, limit);
    Call call = send(List.of(op), List.of(0), LuaScript.timeArgument(settings.timeSource(), nowMillis), REFUND);
    try {
      await(call, System.nanoTime() + timeoutNanos);
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
    byte[] time = LuaScript.timeArgument(settings.timeSource(), nowMillis);
    List<Call> calls = new ArrayList<>(routes.size());
    for (List<Integer> indexes : routes.values()) {
      calls.add(send(ops, indexes, time, mode));
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
        refunds.add(send(ops, recorded, LuaScript.number(scriptNow[c]), REFUND));
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
   * Whether a rejection of this op may be answered locally. Not with a penalty: its rejected hits count towards
   * starting it, so each one must reach Redis.
   */
  private static boolean cacheable(Op op) {
    return !(op.limiter() instanceof PenaltyLimiter);
  }

  /** The arguments of one script call and its reply in flight, or why it could not be sent. */
  private record Call(List<Integer> indexes, byte[][] keys, byte[][] args, RedisFuture<List<Object>> reply,
      RuntimeException refused) {}

  private Call send(List<Op> ops, List<Integer> indexes, byte[] time, byte[] mode) {
    byte[][] keys = new byte[indexes.size()][];
    List<byte[]> args = new ArrayList<>(2 + 8 * indexes.size());
    args.add(time);
    args.add(mode);
    for (int j = 0; j < keys.length; j++) {
      Op op = ops.get(indexes.get(j));
      keys[j] = redisKey(op.key());
      LuaScript.appendArguments(args, op.limiter(), op.hits(), op.limit(), op.enforcing());
    }
    byte[][] argv = args.toArray(new byte[0][]);
    try {
      return new Call(indexes, keys, argv, commands().evalsha(script.sha1(), ScriptOutputType.MULTI, keys, argv), null);
    } catch (RuntimeException e) {
      return new Call(indexes, keys, argv, null, e); // refused before sending (e.g. no connection to the slot's node)
    }
  }

  /** Waits for a call's reply, running the script by source once when Redis lost it (a restart or failover). */
  private List<Object> await(Call call, long deadline) throws ExecutionException, TimeoutException {
    if (call.refused() != null) {
      throw call.refused();
    }
    try {
      return await(call.reply(), deadline);
    } catch (ExecutionException e) {
      if (!(e.getCause() instanceof RedisNoScriptException)) {
        throw e;
      }
      return await(commands().eval(script.source(), ScriptOutputType.MULTI, call.keys(), call.args()), deadline);
    } catch (TimeoutException e) {
      call.reply().cancel(false);
      throw e;
    }
  }

  /** Fills in the results of one call; returns the script's time (0 when the call failed). */
  private long complete(Call call, List<Op> ops, Result[] results, long deadline) {
    List<Object> reply;
    try {
      reply = await(call, deadline);
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      Result failure = Result.of(failure(e));
      for (int i : call.indexes()) {
        results[i] = failure;
      }
      return 0;
    }
    long scriptNow = (Long) reply.get(0);
    for (int j = 0; j < call.indexes().size(); j++) {
      int i = call.indexes().get(j);
      Op op = ops.get(i);
      int at = 1 + 4 * j;
      long reset = (Long) reply.get(at + 3);
      results[i] = Result.of(new Verdict((Long) reply.get(at) != 0, op.limit(), (Long) reply.get(at + 1),
          (Long) reply.get(at + 2), reset));
    }
    return scriptNow;
  }

  /**
   * Applies {@code update} atomically: reads the state, applies the update on a copy and writes it back only if no
   * other replica changed it meanwhile (else starts again). Time: Redis's or the caller's, per the time source.
   */
  @Override
  public <R> R update(byte[] key, StateUpdate<R> update, long nowMillis) {
    return compareAndSet(key, update.stateSize(), update::apply, nowMillis);
  }

  /** A state computation at a time. */
  private interface Computation<R> {
    R apply(StateBuffer state, long nowMillis);
  }

  private <R> R compareAndSet(byte[] key, int stateSize, Computation<R> computation, long nowMillis) {
    long deadline = System.nanoTime() + timeoutNanos;
    byte[][] keys = {redisKey(key)};
    byte[] time = LuaScript.timeArgument(settings.timeSource(), nowMillis);
    try {
      List<Object> read = run(stateScript, keys, new byte[][] {GET, time}, deadline);
      long now = (Long) read.get(0);
      byte[] stored = (byte[]) read.get(1);
      for (int attempt = 1; ; attempt++) {
        byte[] state = stored.length == stateSize ? stored.clone() : new byte[stateSize];
        R result = computation.apply(new HeapStateBuffer(state), now);
        long expiresAt = HeapStateBuffer.expiresAt(state);
        byte[] written = expiresAt > now ? state : EMPTY; // expiry 0 (or passed): the key is not kept
        if (Arrays.equals(written, stored)) {
          return result;
        }
        byte[] ttl = LuaScript.number(Math.max(1, expiresAt - now));
        List<Object> swapped = run(stateScript, keys, new byte[][] {CAS, stored, written, ttl, time}, deadline);
        if ((Long) swapped.get(0) == 1) {
          return result;
        }
        if (System.nanoTime() >= deadline) {
          throw failed(StoreException.Kind.UNAVAILABLE, "the state changed under " + attempt
              + " attempts in a row within the timeout (heavy contention on one key)", null);
        }
        // Another replica won: retry on the state it left (returned with the refusal), after a short random pause
        // that spreads contending writers apart.
        now = (Long) swapped.get(1);
        stored = (byte[]) swapped.get(2);
        LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(1_000L << Math.min(attempt, 10)));
      }
    } catch (StoreException e) {
      throw e;
    } catch (ExecutionException | TimeoutException | RuntimeException e) {
      throw failure(e);
    }
  }

  /** Runs a script by SHA (by source after a NOSCRIPT) and waits until the deadline; replies as a list. */
  private List<Object> run(LuaScript lua, byte[][] keys, byte[][] args, long deadline)
      throws ExecutionException, TimeoutException {
    try {
      return asList(await(commands().<Object>evalsha(lua.sha1(), ScriptOutputType.MULTI, keys, args), deadline));
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RedisNoScriptException) {
        return asList(await(commands().<Object>eval(lua.source(), ScriptOutputType.MULTI, keys, args), deadline));
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

  /** The store failure for an error talking to Redis: FULL for Redis's out-of-memory error, else UNAVAILABLE. */
  private StoreException failure(Exception e) {
    Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    StoreException.Kind kind = cause instanceof RedisCommandExecutionException
        && String.valueOf(cause.getMessage()).startsWith("OOM")
        ? StoreException.Kind.FULL : StoreException.Kind.UNAVAILABLE;
    String message = e instanceof TimeoutException
        ? "Redis did not answer within " + settings.timeout().toMillis() + " ms"
        : "Redis failed: " + cause;
    return failed(kind, message, cause);
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

  /** Redis expires keys by itself: nothing to sweep. */
  @Override
  public int sweepExpired(long nowMillis) {
    return 0;
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
  public long offHeapBytes() {
    return 0;
  }

  @Override
  public void close() {
    connection.close();
  }
}
