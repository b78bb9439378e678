/**
 * @herald/transport: the contracts every Herald transport implements.
 *
 * @since 0.1.0
 */
export * as Bus from "./Bus.ts"
export * as Codec from "./Codec.ts"
export * as ConsumerPolicy from "./ConsumerPolicy.ts"
export * as ConsumerState from "./ConsumerState.ts"
export * as DeadLetter from "./DeadLetter.ts"
export * as Envelope from "./Envelope.ts"
export * as EventLog from "./EventLog.ts"
export * as Foreign from "./Foreign.ts"
export * as Message from "./Message.ts"
export * as Millis from "./Millis.ts"
export * as Settlement from "./Settlement.ts"
export * as StoreFault from "./StoreFault.ts"

/**
 * Names of the SQL tables Herald's stores create, checked and quoted one
 * way; the dialect of a `SqlClient`.
 *
 * @since 0.1.0
 */
export * as SqlName from "./SqlName.ts"
export * as Topology from "./Topology.ts"
export * as TopologyConfig from "./TopologyConfig.ts"
export * as TransportError from "./TransportError.ts"
export * as Wire from "./Wire.ts"
export * as Handler from "./Handler.ts"
export * as Middleware from "./Middleware.ts"

/**
 * W3C trace context (`traceparent`, `tracestate`) in envelope headers: the
 * current span's context to send (`headers`, `inject`) and the parent span a
 * received message names (`parentOf`).
 *
 * @since 0.1.0
 */
export * as TraceContext from "./TraceContext.ts"
