// A min-heap of (deadline, id): the expiry worker pops what is due without scanning every hold.
// Entries are never updated in place: an extended reservation is pushed again, and the worker
// skips an entry whose reservation no longer has that deadline.
export class DeadlineHeap {
  private readonly items: { at: number; id: string }[] = [];

  get size(): number {
    return this.items.length;
  }

  push(at: number, id: string): void {
    const items = this.items;
    items.push({ at, id });
    let child = items.length - 1;
    while (child > 0) {
      const parent = (child - 1) >> 1;
      if ((items[parent] as { at: number }).at <= at) break;
      [items[parent], items[child]] = [
        items[child] as { at: number; id: string },
        items[parent] as { at: number; id: string },
      ];
      child = parent;
    }
  }

  peek(): { at: number; id: string } | undefined {
    return this.items[0];
  }

  pop(): { at: number; id: string } | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    items[0] = last;
    let parent = 0;
    for (;;) {
      const left = parent * 2 + 1;
      const right = left + 1;
      let smallest = parent;
      if (left < items.length && (items[left] as { at: number }).at < (items[smallest] as { at: number }).at)
        smallest = left;
      if (
        right < items.length &&
        (items[right] as { at: number }).at < (items[smallest] as { at: number }).at
      )
        smallest = right;
      if (smallest === parent) break;
      [items[parent], items[smallest]] = [
        items[smallest] as { at: number; id: string },
        items[parent] as { at: number; id: string },
      ];
      parent = smallest;
    }
    return top;
  }
}
