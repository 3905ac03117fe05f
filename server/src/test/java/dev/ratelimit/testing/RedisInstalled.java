package dev.ratelimit.testing;

import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;
import org.opentest4j.TestAbortedException;

/**
 * A jqwik hook ({@code @AddLifecycleHook(RedisInstalled.class)}) that skips a property class when {@code redis-server}
 * is not installed, unless {@code CI=true} (then the run fails), as {@link RedisProcess#assumeInstalled} does for
 * JUnit tests.
 */
public final class RedisInstalled implements SkipExecutionHook {
  @Override
  public SkipResult shouldBeSkipped(LifecycleContext context) {
    try {
      RedisProcess.assumeInstalled();
      return SkipResult.doNotSkip();
    } catch (TestAbortedException e) {
      return SkipResult.skip(e.getMessage());
    }
  }
}
