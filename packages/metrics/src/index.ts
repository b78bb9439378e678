/**
 * @herald/metrics: metrics and traces by the OpenTelemetry messaging
 * conventions over every transport, health endpoints and a lag monitor.
 *
 * @since 0.1.0
 */

/**
 * Metric and attribute names (OpenTelemetry messaging conventions, and Herald's own).
 *
 * @since 0.1.0
 */
export * as Semconv from "./Semconv.ts"
