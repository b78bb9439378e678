/**
 * The names Herald's metrics and spans use: the OpenTelemetry semantic
 * conventions for messaging (v1.27+), plus Herald's own under `herald.`.
 *
 * Destinations are bounded: a stream name, or a subject pattern (a
 * subscription's, or one of the application's templates), never a raw
 * per-entity subject, so that no label grows with the traffic.
 *
 * @since 0.1.0
 */

/**
 * Metric names.
 *
 * @since 0.1.0
 * @category names
 */
export const Metrics = {
  sentMessages: "messaging.client.sent.messages",
  consumedMessages: "messaging.client.consumed.messages",
  operationDuration: "messaging.client.operation.duration",
  processDuration: "messaging.process.duration",
  deadLetters: "herald.dead_letters",
  redeliveries: "herald.redeliveries",
  deliveryCount: "herald.delivery.count",
  handlerDeadline: "herald.handler.deadline_exceeded",
  lagPending: "herald.consumer.lag.pending",
  lagAckPending: "herald.consumer.lag.ack_pending",
  lagRedelivered: "herald.consumer.lag.redelivered",
  outboxPending: "herald.outbox.pending",
  outboxOldestAge: "herald.outbox.oldest_age",
  /** Counted by `Inbox.middleware` of `@herald/inbox` (`Inbox.duplicates`). */
  inboxDuplicates: "herald.inbox.duplicates",
  /** Counted by the saga engine of `@herald/saga` (`SagaEngine.transitions`). */
  sagaTransitions: "herald.saga.transitions",
  /** Set from the saga store by `@herald/saga` (`SagaMetrics.instances`, `SagaMetrics.refresh`). */
  sagaInstances: "herald.saga.instances"
} as const

/**
 * Attribute names.
 *
 * @since 0.1.0
 * @category names
 */
export const Attributes = {
  system: "messaging.system",
  operationType: "messaging.operation.type",
  operationName: "messaging.operation.name",
  destination: "messaging.destination.name",
  consumerGroup: "messaging.consumer.group.name",
  messageId: "messaging.message.id",
  conversationId: "messaging.message.conversation_id",
  deliveryCount: "messaging.nats.message.delivery_count",
  causationId: "herald.causation_id",
  messageType: "herald.message.type",
  errorType: "error.type",
  reason: "herald.dead_letter.reason",
  sagaName: "herald.saga.name",
  sagaStatus: "herald.saga.status",
  sagaPreviousStatus: "herald.saga.status.previous"
} as const

/**
 * `messaging.system`.
 *
 * @since 0.1.0
 * @category values
 */
export const system = "nats"

/**
 * `messaging.operation.type` values.
 *
 * @since 0.1.0
 * @category values
 */
export type OperationType = "send" | "receive" | "process" | "create" | "settle"
