package dev.ratelimit.load;

/** Which Envoy route a request went through: it decides which plan descriptor Envoy sends. */
public enum Route {
    /** Any API call: the main plan bucket {@code [tier, org | remote_address]}. */
    MAIN,
    /** {@code /swap/v2/execute}: {@code [bucket=execute, tier, org | remote_address]} instead of the main bucket. */
    EXECUTE,
    /** {@code /tx/v1/submit}: {@code [bucket=submit, tier, org | remote_address]} instead of the main bucket. */
    SUBMIT
}
