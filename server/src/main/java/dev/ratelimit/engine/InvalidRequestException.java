package dev.ratelimit.engine;

/** A request the server refuses as a whole (gRPC {@code INVALID_ARGUMENT}); nothing of it was counted. */
public final class InvalidRequestException extends Exception {
  public InvalidRequestException(String message) {
    super(message, null, false, false);
  }
}
