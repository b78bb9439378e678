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

/**
 * Metrics over `Bus` and `EventLog` by the OpenTelemetry messaging conventions, as one decorator layer.
 *
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.ts"

/**
 * `/metrics`, `/healthz` and `/readyz` over HTTP.
 *
 * @since 0.1.0
 */
export * as MetricsHttp from "./MetricsHttp.ts"

/**
 * The error of `@herald/metrics`.
 *
 * @since 0.1.0
 */
export * as MetricsError from "./MetricsError.ts"

/**
 * The consumer lag monitor: lag gauges on a schedule, one alert when a consumer stays above its threshold, one when it clears.
 *
 * @since 0.1.0
 */
export * as LagMonitor from "./LagMonitor.ts"

/**
 * Traces across every hop: producer and consumer spans around `Bus` and
 * `EventLog`, joined by the W3C `traceparent` in the headers.
 *
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.ts"
