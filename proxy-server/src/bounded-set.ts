/**
 * A set that forgets its oldest members past a cap: for what the server remembers about sessions
 * (ended, seen before) where forgetting the oldest only costs a less precise answer later, never
 * safety, while remembering forever costs memory without bound.
 */
export class BoundedSet<T> {
  private readonly members = new Set<T>();

  constructor(readonly cap: number) {
    if (!Number.isInteger(cap) || cap < 1) throw new Error('cap: a whole number, 1 or more');
  }

  get size(): number {
    return this.members.size;
  }

  has(value: T): boolean {
    return this.members.has(value);
  }

  /** Adds or refreshes `value` as the newest member. */
  add(value: T): this {
    this.members.delete(value);
    this.members.add(value);
    // A Set iterates in insertion order: the first is the oldest.
    while (this.members.size > this.cap)
      this.members.delete(this.members.values().next().value as T);
    return this;
  }

  delete(value: T): boolean {
    return this.members.delete(value);
  }
}
