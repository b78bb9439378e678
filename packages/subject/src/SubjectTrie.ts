/**
 * A mutable token trie that dispatches one subject to many patterns.
 *
 * When a process holds many subscriptions (handlers keyed by pattern), testing
 * every pattern against every incoming subject costs O(patterns). The trie
 * instead walks the subject's tokens once, following at each level only the
 * exact-token child, the `*` child and the `>` entries, so the work depends on
 * the subject's length and the number of matching patterns, not on how many
 * patterns are registered.
 *
 * Registrations form a multiset: adding the same pattern and value twice
 * registers it twice, `match` returns every matching registration's value
 * once, in insertion order, and `remove` drops one registration.
 *
 * @since 0.1.0
 */
import * as core from "./internal/core.ts"
import type * as Subject from "./Subject.ts"
import type * as SubjectPattern from "./SubjectPattern.ts"

/**
 * A mutable pattern trie holding values of type `A`.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubjectTrie<A> {
  /**
   * Registers `value` under `pattern`.
   */
  add(pattern: SubjectPattern.SubjectPattern, value: A): void
  /**
   * Removes the oldest registration of `value` (compared with `===`) under
   * `pattern`. Returns `false` when there was none.
   */
  remove(pattern: SubjectPattern.SubjectPattern, value: A): boolean
  /**
   * The values of every registration whose pattern matches the subject, in
   * insertion order. A string that is not a valid subject matches nothing.
   */
  match(subject: Subject.Subject | string): ReadonlyArray<A>
  /**
   * Returns `true` when at least one registration matches the subject.
   */
  has(subject: Subject.Subject | string): boolean
  /**
   * The number of registrations.
   */
  readonly size: number
  /**
   * The distinct registered patterns, in order of first registration.
   */
  patterns(): ReadonlyArray<SubjectPattern.SubjectPattern>
  /**
   * Removes every registration.
   */
  clear(): void
}

interface Entry<A> {
  readonly seq: number
  readonly value: A
}

class Node<A> {
  children: Map<string, Node<A>> | undefined = undefined
  star: Node<A> | undefined = undefined
  /** registrations whose pattern ends at this node */
  values: Array<Entry<A>> | undefined = undefined
  /** registrations whose pattern is this node's path followed by `>` */
  full: Array<Entry<A>> | undefined = undefined

  isEmpty(): boolean {
    return this.children === undefined && this.star === undefined && this.values === undefined &&
      this.full === undefined
  }
}

const bySeq = <A>(x: Entry<A>, y: Entry<A>): number => x.seq - y.seq

class Trie<A> implements SubjectTrie<A> {
  private root = new Node<A>()
  private seq = 0
  private count = 0
  private readonly counts = new Map<SubjectPattern.SubjectPattern, number>()

  get size(): number {
    return this.count
  }

  add(pattern: SubjectPattern.SubjectPattern, value: A): void {
    const tokens = pattern.split(".")
    const last = tokens.length - 1
    let node = this.root
    for (let i = 0; i < last; i++) node = child(node, tokens[i]!)
    const entry: Entry<A> = { seq: this.seq++, value }
    if (tokens[last] === ">") {
      if (node.full === undefined) node.full = [entry]
      else node.full.push(entry)
    } else {
      node = child(node, tokens[last]!)
      if (node.values === undefined) node.values = [entry]
      else node.values.push(entry)
    }
    this.count++
    this.counts.set(pattern, (this.counts.get(pattern) ?? 0) + 1)
  }

  remove(pattern: SubjectPattern.SubjectPattern, value: A): boolean {
    const tokens = pattern.split(".")
    const last = tokens.length - 1
    const full = tokens[last] === ">"
    const depth = full ? last : last + 1
    const path: Array<Node<A>> = [this.root]
    let node: Node<A> | undefined = this.root
    for (let i = 0; i < depth; i++) {
      const token: string = tokens[i]!
      node = token === "*" ? node.star : node.children?.get(token)
      if (node === undefined) return false
      path.push(node)
    }
    const list = full ? node.full : node.values
    if (list === undefined) return false
    let index = -1
    for (let i = 0; i < list.length; i++) {
      if (list[i]!.value === value) {
        index = i
        break
      }
    }
    if (index < 0) return false
    list.splice(index, 1)
    if (list.length === 0) {
      if (full) node.full = undefined
      else node.values = undefined
    }
    // prune empty nodes bottom-up
    for (let i = depth; i > 0; i--) {
      const current = path[i]!
      if (!current.isEmpty()) break
      const parent = path[i - 1]!
      const token = tokens[i - 1]!
      if (token === "*") parent.star = undefined
      else if (parent.children !== undefined) {
        parent.children.delete(token)
        if (parent.children.size === 0) parent.children = undefined
      }
    }
    this.count--
    const n = this.counts.get(pattern)!
    if (n <= 1) this.counts.delete(pattern)
    else this.counts.set(pattern, n - 1)
    return true
  }

  match(subject: Subject.Subject | string): ReadonlyArray<A> {
    if (this.count === 0) return []
    const tokens = core.tokenizeSubject(subject)
    if (tokens === undefined) return []
    const out: Array<Entry<A>> = []
    collect(this.root, tokens, 0, out)
    const len = out.length
    if (len === 0) return []
    let sorted = true
    for (let i = 1; i < len; i++) {
      if (out[i - 1]!.seq > out[i]!.seq) {
        sorted = false
        break
      }
    }
    if (!sorted) out.sort(bySeq)
    const values = new Array<A>(len)
    for (let i = 0; i < len; i++) values[i] = out[i]!.value
    return values
  }

  has(subject: Subject.Subject | string): boolean {
    if (this.count === 0) return false
    const tokens = core.tokenizeSubject(subject)
    return tokens !== undefined && any(this.root, tokens, 0)
  }

  patterns(): ReadonlyArray<SubjectPattern.SubjectPattern> {
    return Array.from(this.counts.keys())
  }

  clear(): void {
    this.root = new Node<A>()
    this.count = 0
    this.counts.clear()
  }
}

const child = <A>(node: Node<A>, token: string): Node<A> => {
  if (token === "*") {
    if (node.star === undefined) node.star = new Node<A>()
    return node.star
  }
  if (node.children === undefined) node.children = new Map()
  let next = node.children.get(token)
  if (next === undefined) {
    next = new Node<A>()
    node.children.set(token, next)
  }
  return next
}

const pushAll = <A>(out: Array<Entry<A>>, entries: Array<Entry<A>>): void => {
  for (let i = 0; i < entries.length; i++) out.push(entries[i]!)
}

const collect = <A>(node: Node<A>, tokens: ReadonlyArray<string>, i: number, out: Array<Entry<A>>): void => {
  // the subject has at least one token left here, so `>` entries match
  if (node.full !== undefined) pushAll(out, node.full)
  const token = tokens[i]!
  const last = i + 1 === tokens.length
  const exact = node.children?.get(token)
  if (exact !== undefined) {
    if (last) {
      if (exact.values !== undefined) pushAll(out, exact.values)
    } else collect(exact, tokens, i + 1, out)
  }
  const star = node.star
  if (star !== undefined) {
    if (last) {
      if (star.values !== undefined) pushAll(out, star.values)
    } else collect(star, tokens, i + 1, out)
  }
}

const any = <A>(node: Node<A>, tokens: ReadonlyArray<string>, i: number): boolean => {
  if (node.full !== undefined) return true
  const token = tokens[i]!
  const last = i + 1 === tokens.length
  const exact = node.children?.get(token)
  if (exact !== undefined && (last ? exact.values !== undefined : any(exact, tokens, i + 1))) return true
  const star = node.star
  return star !== undefined && (last ? star.values !== undefined : any(star, tokens, i + 1))
}

/**
 * Creates an empty trie.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A>(): SubjectTrie<A> => new Trie<A>()
