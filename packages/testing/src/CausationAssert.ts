/**
 * Assertions about who caused what.
 *
 * Every assertion is an `Effect` that succeeds with `void` or fails with a
 * {@link CausationAssertionError} whose message says what was expected and
 * what was found. Inside `it.effect` a failed assertion fails the test with
 * that message; elsewhere, handle it like any typed failure. They take
 * envelopes, identities, or anything with an `identity` (a `Bus.Received`,
 * an `EventLog.Delivery`).
 *
 * ```ts
 * const [placed, paid, receipt] = Fixtures.chain(3)
 * yield* CausationAssert.assertCausalChain([placed, paid, receipt])
 * yield* CausationAssert.assertTree(received.map((m) => m.envelope), `
 *   OrderPlaced
 *   ├─ PaymentTaken
 *   │  └─ ReceiptSent
 *   └─ StockReserved
 * `)
 * ```
 *
 * @since 0.1.0
 */
import { CausationTree, MessageIdentity } from "@herald/identity"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"

/**
 * A failed causation assertion.
 *
 * @since 0.1.0
 * @category errors
 */
export class CausationAssertionError extends Data.TaggedError("CausationAssertionError")<{
  readonly message: string
}> {}

/**
 * Something that carries a message identity: an envelope, a received message
 * or delivery, or the identity itself.
 *
 * @since 0.1.0
 * @category models
 */
export type Identified = MessageIdentity.MessageIdentity | { readonly identity: MessageIdentity.MessageIdentity } | {
  readonly envelope: { readonly identity: MessageIdentity.MessageIdentity }
}

const identityOf = (item: Identified): MessageIdentity.MessageIdentity =>
  "envelope" in item ? item.envelope.identity : "identity" in item ? item.identity : item

const typeOf = (item: Identified): string | undefined => {
  const envelope = "envelope" in item ? item.envelope : item
  return "type" in envelope && typeof envelope.type === "string" ? envelope.type : undefined
}

const describe = (item: Identified): string => {
  const type = typeOf(item)
  const id = identityOf(item).messageId
  return type === undefined ? id : `${type} (${id})`
}

const fail = (message: string) => Effect.fail(new CausationAssertionError({ message }))

const causedByProblem = (child: Identified, parent: Identified): string | undefined => {
  const c = identityOf(child)
  const p = identityOf(parent)
  if (MessageIdentity.isCausedBy(c, p)) return undefined
  const problems: Array<string> = []
  if (c.causationId !== (p.messageId as string)) problems.push(`its causation id is ${c.causationId}, not ${p.messageId}`)
  if (c.correlationId !== p.correlationId) {
    problems.push(`its correlation id is ${c.correlationId}, the parent's is ${p.correlationId}`)
  }
  return `expected ${describe(child)} to be caused by ${describe(parent)}, but ${problems.join(" and ")}`
}

/**
 * Asserts that `child` was caused directly by `parent`: its causation id is
 * the parent's message id and both share a correlation id.
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertCausedBy = (child: Identified, parent: Identified): Effect.Effect<void, CausationAssertionError> =>
  Effect.suspend(() => {
    const problem = causedByProblem(child, parent)
    return problem === undefined ? Effect.void : fail(problem)
  })

/**
 * Asserts that all messages belong to one conversation (one correlation id).
 * Passes for zero or one message.
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertSameCorrelation = (
  items: Iterable<Identified>
): Effect.Effect<void, CausationAssertionError> =>
  Effect.suspend(() => {
    const all = [...items]
    if (all.length < 2) return Effect.void
    const expected = identityOf(all[0]!).correlationId
    const odd = all
      .map((item, index) => ({ item, index }))
      .filter(({ item }) => identityOf(item).correlationId !== expected)
    if (odd.length === 0) return Effect.void
    const list = odd
      .map(({ index, item }) => `#${index} ${describe(item)} has ${identityOf(item).correlationId}`)
      .join("; ")
    return fail(`expected every message to have correlation id ${expected} (that of #0), but ${list}`)
  })

/**
 * Asserts that each message was caused by the one before it (the first may
 * be anything). Reports the first broken link.
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertCausalChain = (items: Iterable<Identified>): Effect.Effect<void, CausationAssertionError> =>
  Effect.suspend(() => {
    const all = [...items]
    for (let i = 1; i < all.length; i++) {
      const problem = causedByProblem(all[i]!, all[i - 1]!)
      if (problem !== undefined) return fail(`causal chain broken at #${i}: ${problem}`)
    }
    return Effect.void
  })

// Drops the blank first and last lines and the indentation shared by all lines
// of a template literal, and trailing spaces.
const normalize = (text: string): string => {
  const lines = text.replace(/\r\n/g, "\n").split("\n").map((l) => l.replace(/\s+$/, ""))
  while (lines.length > 0 && lines[0] === "") lines.shift()
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop()
  const indent = Math.min(
    ...lines.filter((l) => l.length > 0).map((l) => l.length - l.trimStart().length)
  )
  return lines.map((l) => l.slice(Number.isFinite(indent) ? indent : 0)).join("\n")
}

/**
 * Options of {@link assertTree}.
 *
 * @since 0.1.0
 * @category models
 */
export interface TreeOptions<A> {
  /** A node's label (default: the envelope's type, else the message id). */
  readonly label?: ((item: A) => string) | undefined
}

/**
 * Asserts that the messages form the expected causation tree, drawn as
 * `CausationTree.render` draws it: one line per message, children under
 * their cause with `├─ `, `└─ ` and `│  ` guides. The indentation shared by
 * every line of `expectedRender` and blank first and last lines are ignored,
 * so a template literal can be indented with the code. Orphans (messages
 * whose cause is missing) are drawn at the left margin after the roots;
 * duplicates and cycles make the assertion fail.
 *
 * @since 0.1.0
 * @category assertions
 */
export const assertTree = <A extends Identified>(
  items: Iterable<A>,
  expectedRender: string,
  options?: TreeOptions<A>
): Effect.Effect<void, CausationAssertionError> =>
  Effect.suspend(() => {
    const label = options?.label ?? ((item: A) => typeOf(item) ?? identityOf(item).messageId)
    const built = CausationTree.make([...items], identityOf)
    const problems: Array<string> = []
    if (built.duplicates.length > 0) {
      problems.push(`duplicate messages: ${built.duplicates.map((d) => describe(d)).join(", ")}`)
    }
    if (built.cycles.length > 0) {
      problems.push(`causation cycles: ${built.cycles.map((c) => c.join(" -> ")).join("; ")}`)
    }
    const actual = CausationTree.render(built, label)
    const expected = normalize(expectedRender)
    if (actual === expected && problems.length === 0) return Effect.void
    const lines = [
      "causation tree differs",
      "expected:",
      expected,
      "actual:",
      actual === "" ? "(empty)" : actual
    ]
    if (built.orphans.length > 0) {
      lines.push(`orphans (cause not in the set): ${built.orphans.map((o) => describe(o.value)).join(", ")}`)
    }
    lines.push(...problems)
    return fail(lines.join("\n"))
  })
