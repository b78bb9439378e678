/**
 * `herald tree CORRELATION_ID`: the causation tree of one flow, read from
 * the correlation index (`@herald/replay`'s `CorrelationIndexSql`) and
 * drawn by `@herald/identity`'s `CausationTree.render`.
 *
 * Each message is drawn as `<kind> <type> (<message id>)`: the kind the
 * index recorded from its envelope; for an entry without one (recorded
 * before the index kept kinds, or a message without Herald's headers), the
 * kind read from its headers with `--bodies`, else from its subject when the
 * subject follows Herald's naming convention
 * (`{env}.{app}.{kind}.{aggregate}.{action}`); else the kind is left out.
 *
 * @since 0.1.0
 */
import { CausationTree, Ids, MessageIdentity } from "@herald/identity"
import { CorrelationIndex, CorrelationIndexMigrations, CorrelationIndexSql, Replay } from "@herald/replay"
import { Namespace } from "@herald/subject"
import { type EventLog, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import type * as SqlClient from "effect/sql/SqlClient"
import * as CommandError from "./CommandError.ts"
import * as Database from "./Database.ts"
import * as Format from "./Format.ts"

/**
 * One message of the tree with the messages it caused.
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeNode {
  readonly messageId: string
  readonly causationId: string
  /** As the index recorded it, else from the headers (with bodies) or the subject; `null` when none says. */
  readonly kind: string | null
  readonly type: string
  readonly subject: string
  readonly stream: string
  readonly sequence: number
  /** When the message was stored, ISO-8601. */
  readonly storedAt: string
  /**
   * With `bodies`: the body read from the stream (parsed when it is JSON,
   * else its text), or `null` when the message is no longer in the stream.
   */
  readonly body?: unknown
  readonly children: ReadonlyArray<TreeNode>
}

/**
 * The tree of one flow: its tops (roots, then messages whose cause is not
 * in the index, then messages caused by a cycle) and the cycles, which are
 * not drawn.
 *
 * @since 0.1.0
 * @category models
 */
export interface FlowTree {
  readonly correlationId: string
  readonly messages: number
  readonly roots: ReadonlyArray<TreeNode>
  readonly cycles: ReadonlyArray<ReadonlyArray<string>>
}

/**
 * A flow's tree, as JSON (`tree`) and drawn (`text`): one line per message
 * by `CausationTree.render`, then one line per causation cycle (which it
 * does not draw).
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly tree: FlowTree
  readonly text: string
}

/**
 * The default table of the index.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTable: string = CorrelationIndexMigrations.defaultTable

/**
 * A correlation id as given on the command line: 1 to 128 printable ASCII
 * characters without whitespace.
 *
 * @since 0.1.0
 * @category parsing
 */
export const correlationId = (text: string): Effect.Effect<string, CommandError.CommandError> => {
  const problem = Ids.idProblem(text)
  return problem === undefined
    ? Effect.succeed(text)
    : Effect.fail(CommandError.invalid(
      `malformed correlation id ${JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text)}: ${problem}`
    ))
}

const kindOf = (subject: string): string | null =>
  Option.match(Namespace.parse(subject), { onNone: () => null, onSome: (parts) => parts.kind })

/** A message read from the stream: its kind and body, or `null` when it is gone. */
type Fetched = { readonly kind: string; readonly body: unknown } | null

const bodyOf = (bytes: Uint8Array): unknown => {
  const text = new TextDecoder().decode(bytes)
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

/** The flow's messages read from their streams, by `<sequence> <stream>`. */
const fetch = (id: string, index: CorrelationIndex.CorrelationIndex["Service"]) =>
  Replay.byCorrelation(id).pipe(
    Effect.provideService(CorrelationIndex.CorrelationIndex, index),
    Effect.map((flow) => {
      const found = new Map<string, Fetched>()
      for (const m of [...flow.messages, ...flow.duplicates]) {
        found.set(`${m.sequence} ${m.stream}`, { kind: m.envelope.kind, body: bodyOf(m.envelope.body) })
      }
      return found
    })
  )

const build = (
  id: string,
  table: string,
  entries: ReadonlyArray<CorrelationIndex.Entry>,
  fetched: ReadonlyMap<string, Fetched> | undefined
): Effect.Effect<Loaded, CommandError.CommandError> =>
  Effect.gen(function*() {
    const items = yield* Effect.forEach(entries, (entry) => {
      const identity = MessageIdentity.make(entry)
      if (Result.isFailure(identity)) {
        return Effect.fail(CommandError.database(
          `${table} holds a malformed entry at ${entry.stream}:${entry.sequence}: ${identity.failure.message}`
        ))
      }
      const message = fetched?.get(`${entry.sequence} ${entry.stream}`) ?? null
      const node: Omit<TreeNode, "children"> = {
        messageId: entry.messageId,
        causationId: entry.causationId,
        kind: entry.kind ?? message?.kind ?? kindOf(entry.subject),
        type: entry.type,
        subject: entry.subject,
        stream: entry.stream,
        sequence: entry.sequence,
        storedAt: new Date(entry.timestamp).toISOString(),
        ...(fetched === undefined ? {} : { body: message === null ? null : message.body })
      }
      return Effect.succeed({ entry, identity: identity.success, node })
    })
    // The index answers in stream order; siblings are drawn in the order they were stored.
    const ordered = [...items].sort((a, b) =>
      a.entry.timestamp - b.entry.timestamp || CorrelationIndex.order(a.entry, b.entry)
    )
    const tree = CausationTree.make(ordered, (item) => item.identity)
    const toNode = (node: CausationTree.Node<(typeof ordered)[number]>): TreeNode => ({
      ...node.value.node,
      children: node.children.map(toNode)
    })
    const cycles = CausationTree.cycles(tree)
    return {
      tree: {
        correlationId: id,
        messages: CausationTree.size(tree),
        roots: CausationTree.tops(tree).map(toNode),
        cycles
      },
      text: [
        CausationTree.render(tree, (item) => label(item.node)),
        ...cycles.map((cycle) => `(in a causation cycle, not drawn: ${cycle.join(" → ")})`)
      ].join("\n")
    } satisfies Loaded
  })

const lookup = (id: string, table: string) =>
  Effect.gen(function*() {
    yield* Database.requireTables([table], "the correlation index (@herald/replay)")
    const index = yield* CorrelationIndexSql.make({ table, migrate: false })
    const entries = yield* index.lookup(id)
    if (entries.length === 0) {
      return yield* Effect.fail(CommandError.notFound(`no messages for correlation id ${id} in ${table}`))
    }
    return { index, entries }
  })

/**
 * The tree of one flow, from the index in `table`. Fails with `NotFound`
 * when the index holds no message of the correlation id.
 *
 * @since 0.1.0
 * @category queries
 */
export const load = (
  id: string,
  options?: { readonly table?: string | undefined }
): Effect.Effect<Loaded, CommandError.CommandError, SqlClient.SqlClient | Database.Database> => {
  const table = options?.table ?? defaultTable
  return lookup(id, table).pipe(
    Effect.flatMap(({ entries }) => build(id, table, entries, undefined)),
    Effect.mapError(Database.failed("cannot read the correlation index"))
  )
}

/**
 * `load`, with each message's body (and kind) read from its stream by
 * `Replay.byCorrelation`; a message no longer in its stream has the body
 * `null`.
 *
 * @since 0.1.0
 * @category queries
 */
export const loadWithBodies = (
  id: string,
  options?: { readonly table?: string | undefined }
): Effect.Effect<Loaded, CommandError.CommandError, SqlClient.SqlClient | Database.Database | EventLog.EventLog> => {
  const table = options?.table ?? defaultTable
  return lookup(id, table).pipe(
    Effect.mapError(Database.failed("cannot read the correlation index")),
    Effect.flatMap(({ entries, index }) =>
      fetch(id, index).pipe(
        Effect.mapError((error) =>
          TransportError.isTransportError(error) ? CommandError.transport(error) : Database.failed("cannot read the correlation index")(error)
        ),
        Effect.flatMap((fetched) => build(id, table, entries, fetched))
      )
    )
  )
}

/**
 * One message's line: `event OrderPlaced (<id>)`, then with bodies the
 * body on one line (cut at 120 characters).
 *
 * @since 0.1.0
 * @category formatting
 */
export const label = (node: Omit<TreeNode, "children">): string => {
  const head = `${node.kind === null ? "" : `${node.kind} `}${node.type} (${node.messageId})`
  if (!("body" in node)) return head
  if (node.body === null) return `${head} [no longer in ${node.stream}]`
  return `${head} ${Format.clip(typeof node.body === "string" ? node.body : JSON.stringify(node.body), 120)}`
}
