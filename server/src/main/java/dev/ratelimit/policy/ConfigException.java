package dev.ratelimit.policy;

/** A policy that cannot be loaded; the message names the file, line and field and what is wrong. */
public final class ConfigException extends Exception {
  public ConfigException(String message) {
    super(message);
  }

  public ConfigException(String message, Throwable cause) {
    super(message, cause);
  }
}
