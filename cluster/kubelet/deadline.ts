/**
 * A moment that can only move earlier: a later DELETE with a shorter grace period shortens a
 * termination in progress (the API server only ever lowers deletionGracePeriodSeconds).
 */
export class Deadline {
  at: number;
  readonly reached: Promise<void>;
  #resolve: () => void = () => {};
  #timer: NodeJS.Timeout | undefined;

  constructor(at: number) {
    this.at = at;
    this.reached = new Promise((r) => {
      this.#resolve = r;
    });
    this.#arm();
  }

  #arm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(this.#resolve, Math.max(0, this.at - Date.now()));
  }

  shortenTo(at: number): void {
    if (at >= this.at) return;
    this.at = at;
    this.#arm();
  }

  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
  }
}
