package dev.ratelimit.quota;

/**
 * An organisation's dynamic quota as of one moment.
 *
 * @param added the added quota in force: the override when set, otherwise {@code computedAdded}
 * @param overridden {@code SetQuota} set the value in force
 * @param computedAdded {@code floor(volume × rate)} at the last recomputation
 * @param volumeMicroUsd the rolling 24 h volume that recomputation saw, in micro-USD
 * @param pendingMicroUsd volume recorded in the current 10-minute period, counted from the next recomputation on
 * @param computedAtMillis the boundary the last recomputation belongs to (epoch millis)
 * @param nextComputationMillis the next boundary, when {@code computedAdded} may change
 */
public record Quota(
    long added,
    boolean overridden,
    long computedAdded,
    long volumeMicroUsd,
    long pendingMicroUsd,
    long computedAtMillis,
    long nextComputationMillis) {}
