/**
 * Rebuilds who-caused-what from a set of messages.
 *
 * Give {@link make} any items that carry a `MessageIdentity` (or give
 * {@link fromIdentities} the identities themselves) and it links every
 * message to the message its causation id names. The result is an immutable
 * forest that you can query ({@link roots}, {@link children}, {@link parent},
 * {@link depth}), walk in causal order ({@link causalOrder}) and print
 * ({@link render}).
 *
 * Real message logs are rarely perfect, so imperfections are reported rather
 * than thrown:
 *
 * - {@link orphans}: messages whose cause is not in the set. They become the
 *   tops of their own subtrees.
 * - {@link cycles}: messages that cause each other in a loop (impossible with
 *   ids from `MessageIdentity.derive`, but possible with hand-made or corrupt
 *   data). Cycle members are left out of the forest; messages caused by a
 *   cycle member become the tops of their own subtrees ({@link detached}).
 * - {@link duplicates}: a message id seen again. The first item is kept.
 *
 * A root (causation id = own message id) is not a cycle. Building is O(n) and
 * nothing recurses, so a 100,000-message causal chain is fine.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as Option from "effect/Option"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as Predicate from "effect/Predicate"
import type * as Ids from "./Ids.ts"
import type * as MessageIdentity from "./MessageIdentity.ts"

const TypeId = "~@herald/identity/CausationTree" as const

/**
 * One message in the forest with the messages it caused.
 *
 * `depth` is the distance to the top of the subtree the node is in: 0 for a
 * root, an orphan or a detached node, 1 for their children, and so on.
 * `children` are in the order the items were given.
 *
 * @category models
 * @since 0.1.0
 */
export interface Node<out A> {
  readonly identity: MessageIdentity.MessageIdentity
  readonly value: A
  readonly children: ReadonlyArray<Node<A>>
  readonly depth: number
}

/**
 * An immutable causation forest over items of type `A`. Use the functions of
 * this module to query it.
 *
 * @category models
 * @since 0.1.0
 */
export interface CausationTree<out A> extends Pipeable {
  readonly [TypeId]: typeof TypeId
  /** The roots (messages that are their own cause), in input order. */
  readonly roots: ReadonlyArray<Node<A>>
  /** Messages whose cause is not in the set, in input order. */
  readonly orphans: ReadonlyArray<Node<A>>
  /** Messages whose cause is a cycle member, in input order. */
  readonly detached: ReadonlyArray<Node<A>>
  /** Each cycle once, as message ids in causal order. */
  readonly cycles: ReadonlyArray<ReadonlyArray<Ids.MessageId>>
  /** Items dropped because their message id was seen before, in input order. */
  readonly duplicates: ReadonlyArray<A>
  /** Items in the forest, every parent before its children. */
  readonly causalOrder: ReadonlyArray<A>
  /** Number of distinct messages: forest nodes plus cycle members. */
  readonly size: number
  /** The greatest node depth; 0 for an empty tree. */
  readonly maxDepth: number
}

interface MutableNode<A> {
  readonly identity: MessageIdentity.MessageIdentity
  readonly value: A
  readonly children: Array<MutableNode<A>>
  readonly depth: number
}

class CausationTreeImpl<A> implements CausationTree<A> {
  readonly [TypeId] = TypeId
  readonly roots: ReadonlyArray<Node<A>>
  readonly orphans: ReadonlyArray<Node<A>>
  readonly detached: ReadonlyArray<Node<A>>
  readonly cycles: ReadonlyArray<ReadonlyArray<Ids.MessageId>>
  readonly duplicates: ReadonlyArray<A>
  readonly causalOrder: ReadonlyArray<A>
  readonly size: number
  readonly maxDepth: number
  /** node by message id; cycle members are absent */
  readonly nodeById: ReadonlyMap<string, Node<A>>
  /** forest parent by message id; absent for tops and cycle members */
  readonly parentById: ReadonlyMap<string, Node<A>>
  /** forest children of cycle members */
  readonly cycleChildren: ReadonlyMap<string, ReadonlyArray<Node<A>>>
  /** message ids of cycle members */
  readonly cycleMembers: ReadonlySet<string>
  constructor(fields: {
    readonly roots: ReadonlyArray<Node<A>>
    readonly orphans: ReadonlyArray<Node<A>>
    readonly detached: ReadonlyArray<Node<A>>
    readonly cycles: ReadonlyArray<ReadonlyArray<Ids.MessageId>>
    readonly duplicates: ReadonlyArray<A>
    readonly causalOrder: ReadonlyArray<A>
    readonly size: number
    readonly maxDepth: number
    readonly nodeById: ReadonlyMap<string, Node<A>>
    readonly parentById: ReadonlyMap<string, Node<A>>
    readonly cycleChildren: ReadonlyMap<string, ReadonlyArray<Node<A>>>
    readonly cycleMembers: ReadonlySet<string>
  }) {
    this.roots = fields.roots
    this.orphans = fields.orphans
    this.detached = fields.detached
    this.cycles = fields.cycles
    this.duplicates = fields.duplicates
    this.causalOrder = fields.causalOrder
    this.size = fields.size
    this.maxDepth = fields.maxDepth
    this.nodeById = fields.nodeById
    this.parentById = fields.parentById
    this.cycleChildren = fields.cycleChildren
    this.cycleMembers = fields.cycleMembers
  }
  pipe() {
    return pipeArguments(this, arguments)
  }
  toJSON() {
    return {
      _id: "CausationTree",
      size: this.size,
      roots: this.roots.length,
      orphans: this.orphans.length,
      cycles: this.cycles,
      duplicates: this.duplicates.length
    }
  }
}

const impl = <A>(tree: CausationTree<A>): CausationTreeImpl<A> => tree as CausationTreeImpl<A>

/**
 * `true` when `u` is a {@link CausationTree}.
 *
 * @category guards
 * @since 0.1.0
 */
export const isCausationTree = (u: unknown): u is CausationTree<unknown> => Predicate.hasProperty(u, TypeId)

const ROOT = -1
const ORPHAN = -2

/**
 * Builds the forest from `items` in O(n). `identityOf` reads each item's
 * identity. Input order matters only for sibling order, for which item of a
 * duplicated id is kept (the first) and for report order.
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <A>(
  items: Iterable<A>,
  identityOf: (a: A) => MessageIdentity.MessageIdentity
): CausationTree<A> => {
  // 1. Distinct messages in input order.
  const indexOf = new Map<string, number>()
  const values: Array<A> = []
  const identities: Array<MessageIdentity.MessageIdentity> = []
  const duplicates: Array<A> = []
  for (const item of items) {
    const identity = identityOf(item)
    if (indexOf.has(identity.messageId)) {
      duplicates.push(item)
    } else {
      indexOf.set(identity.messageId, values.length)
      values.push(item)
      identities.push(identity)
    }
  }
  const n = values.length

  // 2. Parent links and child lists (children in input order).
  const parentOf = new Int32Array(n)
  const childCount = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const { causationId, messageId } = identities[i]!
    if ((causationId as string) === (messageId as string)) {
      parentOf[i] = ROOT
    } else {
      const p = indexOf.get(causationId)
      if (p === undefined) {
        parentOf[i] = ORPHAN
      } else {
        parentOf[i] = p
        childCount[p]!++
      }
    }
  }
  // Compressed child lists: the children of i are childList[childStart[i] .. childStart[i + 1]).
  const childStart = new Int32Array(n + 1)
  for (let i = 0; i < n; i++) childStart[i + 1] = childStart[i]! + childCount[i]!
  const childList = new Int32Array(childStart[n]!)
  const fill = childStart.slice(0, n)
  for (let i = 0; i < n; i++) {
    const p = parentOf[i]!
    if (p >= 0) childList[fill[p]!++] = i
  }

  // 3. Everything reachable from a root or an orphan is in the forest.
  const RESOLVED = 1
  const ON_PATH = 2
  const IN_CYCLE = 3
  const state = new Uint8Array(n)
  const stack: Array<number> = []
  for (let i = 0; i < n; i++) {
    if (parentOf[i]! < 0) stack.push(i)
  }
  while (stack.length > 0) {
    const i = stack.pop()!
    state[i] = RESOLVED
    for (let k = childStart[i]!; k < childStart[i + 1]!; k++) stack.push(childList[k]!)
  }

  // 4. The rest lead up into cycles (every message has one parent). Walk up
  //    from each unresolved message; meeting the current walk again closes a
  //    cycle.
  const walkOf = new Int32Array(n)
  const cycleLists: Array<{ readonly first: number; readonly ids: ReadonlyArray<Ids.MessageId> }> = []
  const path: Array<number> = []
  for (let start = 0, walk = 1; start < n; start++) {
    if (state[start] !== 0) continue
    path.length = 0
    let j = start
    while (state[j] === 0) {
      state[j] = ON_PATH
      walkOf[j] = walk
      path.push(j)
      j = parentOf[j]!
    }
    if (state[j] === ON_PATH && walkOf[j] === walk) {
      // parent-ward from j: j, p(j), p(p(j)), ... back to j
      const members: Array<number> = []
      let k = j
      do {
        members.push(k)
        state[k] = IN_CYCLE
        k = parentOf[k]!
      } while (k !== j)
      // causal order is the reverse walk; start at the earliest input
      members.reverse()
      let firstAt = 0
      for (let m = 1; m < members.length; m++) {
        if (members[m]! < members[firstAt]!) firstAt = m
      }
      const ordered = members.slice(firstAt).concat(members.slice(0, firstAt))
      cycleLists.push({ first: ordered[0]!, ids: ordered.map((m) => identities[m]!.messageId) })
    }
    for (const p of path) {
      if (state[p] === ON_PATH) state[p] = RESOLVED
    }
    walk++
  }
  cycleLists.sort((a, b) => a.first - b.first)

  // 5. Build nodes top-down in preorder: roots, then orphans, then detached.
  const tops: Array<number> = []
  for (let i = 0; i < n; i++) if (parentOf[i] === ROOT) tops.push(i)
  const rootCount = tops.length
  for (let i = 0; i < n; i++) if (parentOf[i] === ORPHAN) tops.push(i)
  const orphanCount = tops.length - rootCount
  for (let i = 0; i < n; i++) {
    const p = parentOf[i]!
    if (p >= 0 && state[i] !== IN_CYCLE && state[p] === IN_CYCLE) tops.push(i)
  }

  const nodes: Array<MutableNode<A> | undefined> = new Array(n)
  const causalOrder: Array<A> = []
  const nodeById = new Map<string, Node<A>>()
  const parentById = new Map<string, Node<A>>()
  const cycleChildren = new Map<string, Array<Node<A>>>()
  let maxDepth = 0
  for (let t = tops.length - 1; t >= 0; t--) stack.push(tops[t]!)
  while (stack.length > 0) {
    const i = stack.pop()!
    const p = parentOf[i]!
    const parentNode = p >= 0 ? nodes[p] : undefined
    const depth = parentNode === undefined ? 0 : parentNode.depth + 1
    const node: MutableNode<A> = { identity: identities[i]!, value: values[i]!, children: [], depth }
    nodes[i] = node
    causalOrder.push(node.value)
    nodeById.set(node.identity.messageId, node)
    if (parentNode !== undefined) {
      parentNode.children.push(node)
      parentById.set(node.identity.messageId, parentNode)
    } else if (p >= 0) {
      const cycleId = identities[p]!.messageId
      const list = cycleChildren.get(cycleId)
      if (list === undefined) cycleChildren.set(cycleId, [node])
      else list.push(node)
    }
    if (depth > maxDepth) maxDepth = depth
    for (let k = childStart[i + 1]! - 1; k >= childStart[i]!; k--) {
      const c = childList[k]!
      if (state[c] !== IN_CYCLE) stack.push(c)
    }
  }

  const topNodes = tops.map((i) => nodes[i]!)
  const cycles = cycleLists.map((c) => c.ids)
  return new CausationTreeImpl<A>({
    roots: topNodes.slice(0, rootCount),
    orphans: topNodes.slice(rootCount, rootCount + orphanCount),
    detached: topNodes.slice(rootCount + orphanCount),
    cycles,
    duplicates,
    causalOrder,
    size: n,
    maxDepth,
    nodeById,
    parentById,
    cycleChildren,
    cycleMembers: new Set(cycles.flat())
  })
}

/**
 * Builds the forest of plain identities.
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromIdentities = (
  items: Iterable<MessageIdentity.MessageIdentity>
): CausationTree<MessageIdentity.MessageIdentity> => make(items, (identity) => identity)

/**
 * The empty tree.
 *
 * @category constructors
 * @since 0.1.0
 */
export const empty = <A = never>(): CausationTree<A> => make<A>([], (a) => a as MessageIdentity.MessageIdentity)

/**
 * The roots: messages that are their own cause, in input order. Orphans and
 * detached nodes are not roots (see {@link tops}).
 *
 * @category getters
 * @since 0.1.0
 */
export const roots = <A>(tree: CausationTree<A>): ReadonlyArray<Node<A>> => tree.roots

/**
 * The tops of all subtrees in render order: roots, then orphans, then
 * detached nodes.
 *
 * @category getters
 * @since 0.1.0
 */
export const tops = <A>(tree: CausationTree<A>): ReadonlyArray<Node<A>> => [
  ...tree.roots,
  ...tree.orphans,
  ...tree.detached
]

/**
 * The node of a message, or `None` for an unknown id or a cycle member.
 *
 * @category getters
 * @since 0.1.0
 */
export const get: {
  (id: string): <A>(tree: CausationTree<A>) => Option.Option<Node<A>>
  <A>(tree: CausationTree<A>, id: string): Option.Option<Node<A>>
} = dual(2, <A>(tree: CausationTree<A>, id: string): Option.Option<Node<A>> =>
  Option.fromUndefinedOr(impl(tree).nodeById.get(id)))

/**
 * `true` when the tree holds a message with this id (cycle members included).
 *
 * @category getters
 * @since 0.1.0
 */
export const has: {
  (id: string): <A>(tree: CausationTree<A>) => boolean
  <A>(tree: CausationTree<A>, id: string): boolean
} = dual(2, <A>(tree: CausationTree<A>, id: string): boolean =>
  impl(tree).nodeById.has(id) || impl(tree).cycleMembers.has(id))

/**
 * The messages caused directly by message `id`, in input order. Empty for an
 * unknown id. For a cycle member: the messages it caused that are not in the
 * cycle themselves (the {@link detached} nodes).
 *
 * @category getters
 * @since 0.1.0
 */
export const children: {
  (id: string): <A>(tree: CausationTree<A>) => ReadonlyArray<Node<A>>
  <A>(tree: CausationTree<A>, id: string): ReadonlyArray<Node<A>>
} = dual(2, <A>(tree: CausationTree<A>, id: string): ReadonlyArray<Node<A>> => {
  const self = impl(tree)
  return self.nodeById.get(id)?.children ?? self.cycleChildren.get(id) ?? []
})

/**
 * The node of the message that caused message `id`. `None` for roots,
 * orphans, detached nodes (their cause is a cycle member), cycle members and
 * unknown ids.
 *
 * @category getters
 * @since 0.1.0
 */
export const parent: {
  (id: string): <A>(tree: CausationTree<A>) => Option.Option<Node<A>>
  <A>(tree: CausationTree<A>, id: string): Option.Option<Node<A>>
} = dual(2, <A>(tree: CausationTree<A>, id: string): Option.Option<Node<A>> =>
  Option.fromUndefinedOr(impl(tree).parentById.get(id)))

/**
 * The depth of message `id`: 0 for a root, and for the top of an orphan or
 * detached subtree; one more per generation below. `None` for cycle members
 * and unknown ids.
 *
 * @category getters
 * @since 0.1.0
 */
export const depth: {
  (id: string): <A>(tree: CausationTree<A>) => Option.Option<number>
  <A>(tree: CausationTree<A>, id: string): Option.Option<number>
} = dual(2, <A>(tree: CausationTree<A>, id: string): Option.Option<number> => {
  const node = impl(tree).nodeById.get(id)
  return node === undefined ? Option.none() : Option.some(node.depth)
})

/**
 * The greatest depth of any node; 0 for an empty tree.
 *
 * @category getters
 * @since 0.1.0
 */
export const maxDepth = <A>(tree: CausationTree<A>): number => tree.maxDepth

/**
 * The items of the forest with every parent before its children: each root's
 * subtree in preorder (siblings in input order), then the orphans' subtrees,
 * then the detached subtrees. Cycle members and duplicates are left out. This
 * is the line order of {@link render}.
 *
 * @category getters
 * @since 0.1.0
 */
export const causalOrder = <A>(tree: CausationTree<A>): ReadonlyArray<A> => tree.causalOrder

/**
 * The nodes whose causation id names a message not in the set, in input
 * order. Each is the top of its own subtree.
 *
 * @category diagnostics
 * @since 0.1.0
 */
export const orphans = <A>(tree: CausationTree<A>): ReadonlyArray<Node<A>> => tree.orphans

/**
 * The nodes caused by a cycle member, in input order. They are not in a cycle
 * themselves; each is the top of its own subtree.
 *
 * @category diagnostics
 * @since 0.1.0
 */
export const detached = <A>(tree: CausationTree<A>): ReadonlyArray<Node<A>> => tree.detached

/**
 * The causation cycles, each reported once as its message ids in causal order
 * (each caused by the one before it, the first caused by the last), starting
 * with the member given first. Cycles are listed by that member's position.
 * A root is not a cycle.
 *
 * @category diagnostics
 * @since 0.1.0
 */
export const cycles = <A>(tree: CausationTree<A>): ReadonlyArray<ReadonlyArray<Ids.MessageId>> => tree.cycles

/**
 * Items whose message id appeared earlier in the input, in input order. The
 * first item with an id is kept in the tree; these are left out.
 *
 * @category diagnostics
 * @since 0.1.0
 */
export const duplicates = <A>(tree: CausationTree<A>): ReadonlyArray<A> => tree.duplicates

/**
 * The number of distinct messages in the tree: forest nodes plus cycle
 * members (duplicates not counted).
 *
 * @category getters
 * @since 0.1.0
 */
export const size = <A>(tree: CausationTree<A>): number => tree.size

/**
 * Draws the forest as text, one line per node in {@link causalOrder}: each
 * subtree top (root, orphan, detached) at the left margin and its descendants
 * below it with `├─ `, `└─ ` and `│  ` guides. Lines are joined with `\n`;
 * the empty tree renders as `""`. Cycle members are not drawn (see
 * {@link cycles}).
 *
 * ```text
 * order placed
 * ├─ payment taken
 * │  └─ receipt sent
 * └─ stock reserved
 * ```
 *
 * @category rendering
 * @since 0.1.0
 */
export const render: {
  <A>(label: (a: A) => string): (tree: CausationTree<A>) => string
  <A>(tree: CausationTree<A>, label: (a: A) => string): string
} = dual(2, <A>(tree: CausationTree<A>, label: (a: A) => string): string => {
  const lines: Array<string> = []
  // Each frame: a node, the text before its label, the guide for its children.
  const nodes: Array<Node<A>> = []
  const heads: Array<string> = []
  const guides: Array<string> = []
  const all = tops(tree)
  for (let t = all.length - 1; t >= 0; t--) {
    nodes.push(all[t]!)
    heads.push("")
    guides.push("")
  }
  while (nodes.length > 0) {
    const node = nodes.pop()!
    const head = heads.pop()!
    const guide = guides.pop()!
    lines.push(head + label(node.value))
    const kids = node.children
    for (let k = kids.length - 1; k >= 0; k--) {
      const last = k === kids.length - 1
      nodes.push(kids[k]!)
      heads.push(guide + (last ? "└─ " : "├─ "))
      guides.push(guide + (last ? "   " : "│  "))
    }
  }
  return lines.join("\n")
})
