/**
 * `@herald/testing`: the Herald test kit. An in-memory `Bus`, `EventLog` and
 * `Topology` with JetStream semantics, message capture, envelope fixtures,
 * causation assertions, a scoped nats-server and cluster, and bounded waits. This entry
 * imports only `effect`, Herald packages and Node's built-in modules; the
 * conformance suite (`@herald/testing/vitest`) and `TestDatabase`
 * (`@herald/testing/pg`) have entries of their own.
 *
 * @since 0.1.0
 */

/**
 * The in-memory transport: `Bus`, `EventLog` and `Topology` in one layer.
 *
 * @since 0.1.0
 */
export * as MemoryTransport from "./MemoryTransport.ts"

/**
 * Scoped capture of the messages of a subject pattern.
 *
 * @since 0.1.0
 */
export * as Capture from "./Capture.ts"

/**
 * Deterministic envelope fixtures and malformed raw messages.
 *
 * @since 0.1.0
 */
export * as Fixtures from "./Fixtures.ts"

/**
 * Assertions about causation and correlation.
 *
 * @since 0.1.0
 */
export * as CausationAssert from "./CausationAssert.ts"

/**
 * A scoped nats-server for tests: free port, temporary store, auth, TLS,
 * kill and restart.
 *
 * @since 0.1.0
 */
export * as NatsServer from "./NatsServer.ts"

/**
 * A scoped nats-server cluster for tests: three routed nodes with JetStream,
 * kill, stop, start and restart of single nodes, and their leaders.
 *
 * @since 0.1.0
 */
export * as NatsCluster from "./NatsCluster.ts"

/**
 * Bounded waits for conditions that other fibers make true.
 *
 * @since 0.1.0
 */
export * as Wait from "./Wait.ts"
