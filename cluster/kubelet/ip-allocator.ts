import { type Cidr, ipToNumber, numberToIp, parseCidr } from '../addresses.ts';

/**
 * Pod IPs from the node's spec.podCIDR, handed out round-robin: a freed address goes to the back
 * of the line, so an endpoint that just left an EndpointSlice is not immediately reused by a new
 * pod (proxies and clients may still hold it). The network address, the first host (the
 * "gateway" on a real node) and the broadcast address are never handed out.
 */
export class IpAllocator {
  readonly cidr: string;
  readonly #range: Cidr;
  readonly #first: number;
  readonly #last: number;
  #next: number;
  readonly #inUse = new Map<string, string>();
  readonly #taken: (ip: string) => boolean;

  /**
   * `taken` reports addresses busy outside this allocator (another local cluster's pod listening on
   * the same loopback twin); they are skipped like addresses in use.
   */
  constructor(cidr: string, taken: (ip: string) => boolean = () => false) {
    this.cidr = cidr;
    this.#taken = taken;
    this.#range = parseCidr(cidr);
    const size = 2 ** (32 - this.#range.prefix);
    this.#first = this.#range.network + 2;
    this.#last = this.#range.network + size - 2;
    this.#next = this.#first;
  }

  get capacity(): number {
    return this.#last - this.#first + 1;
  }

  /** Records an address already in use (recovered from the API after a restart). */
  reserve(ip: string, owner: string): void {
    const n = ipToNumber(ip);
    if (n < this.#first || n > this.#last) {
      throw new Error(`pod IP "${ip}" is outside the allocatable range of podCIDR "${this.cidr}"`);
    }
    this.#inUse.set(ip, owner);
    if (n >= this.#next) this.#next = n + 1 > this.#last ? this.#first : n + 1;
  }

  /** The address owned by `owner`, allocating the next free one round-robin. */
  allocate(owner: string): string {
    for (const [ip, o] of this.#inUse) if (o === owner) return ip;
    for (let i = 0; i < this.capacity; i++) {
      const candidate = numberToIp(this.#next);
      this.#next = this.#next >= this.#last ? this.#first : this.#next + 1;
      if (!this.#inUse.has(candidate) && !this.#taken(candidate)) {
        this.#inUse.set(candidate, owner);
        return candidate;
      }
    }
    throw new Error(`podCIDR "${this.cidr}" is exhausted (${this.capacity} addresses in use)`);
  }

  release(owner: string): void {
    for (const [ip, o] of this.#inUse) if (o === owner) this.#inUse.delete(ip);
  }

  owned(): ReadonlyMap<string, string> {
    return this.#inUse;
  }
}
