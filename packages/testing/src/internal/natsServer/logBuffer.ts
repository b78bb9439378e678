/**
 * A bounded ring buffer of the lines a process writes (stdout and stderr
 * interleaved), to quote in error messages.
 *
 * @since 0.1.0
 */

/**
 * Keeps the last `capacity` complete lines, and the unterminated tail of each
 * stream separately so that interleaved chunks do not splice lines.
 *
 * @since 0.1.0
 */
export class LogBuffer {
  private readonly ring: Array<string> = []
  private start = 0
  private readonly partial = new Map<string, string>()
  /** Total lines ever pushed (complete ones). */
  total = 0

  readonly capacity: number
  private readonly onLine: ((line: string) => void) | undefined

  constructor(capacity: number, onLine?: ((line: string) => void) | undefined) {
    this.capacity = capacity
    this.onLine = onLine
  }

  /** Appends a chunk from a stream (`"stdout"` or `"stderr"`). */
  write(stream: string, chunk: string): void {
    const text = (this.partial.get(stream) ?? "") + chunk
    const parts = text.split(/\r?\n/)
    const tail = parts.pop() ?? ""
    // A runaway line without newline must not grow without bound.
    this.partial.set(stream, tail.length > 16_384 ? tail.slice(-16_384) : tail)
    for (const line of parts) this.push(line)
  }

  /** Flushes the unterminated tails (at process exit). */
  flush(): void {
    for (const [stream, tail] of this.partial) {
      if (tail.length > 0) this.push(tail)
      this.partial.set(stream, "")
    }
  }

  /** The buffered lines, oldest first, including unterminated tails. */
  lines(): Array<string> {
    const out = this.ring.length < this.capacity
      ? this.ring.slice()
      : [...this.ring.slice(this.start), ...this.ring.slice(0, this.start)]
    for (const tail of this.partial.values()) if (tail.length > 0) out.push(tail)
    return out
  }

  private push(line: string): void {
    this.total++
    this.onLine?.(line)
    if (this.ring.length < this.capacity) {
      this.ring.push(line)
      return
    }
    this.ring[this.start] = line
    this.start = (this.start + 1) % this.capacity
  }
}
