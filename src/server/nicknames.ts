/**
 * Who owns which nickname. A nickname belongs to one user key while any connection that said
 * it is open; tabs of one browser share the key and so the nickname.
 */
export class NicknameRegistry {
  private readonly owners = new Map<string, { userKey: string; connections: number }>();

  /** Claims `nick` for one more connection of `userKey`; false if another key holds it. */
  claim(nick: string, userKey: string): boolean {
    const owner = this.owners.get(nick.toLowerCase());
    if (owner && owner.userKey !== userKey) return false;
    if (owner) owner.connections++;
    else this.owners.set(nick.toLowerCase(), { userKey, connections: 1 });
    return true;
  }

  release(nick: string): void {
    const key = nick.toLowerCase();
    const owner = this.owners.get(key);
    if (!owner) return;
    if (--owner.connections <= 0) this.owners.delete(key);
  }

  get size(): number {
    return this.owners.size;
  }
}

/** Nicknames and room names: printable, no control characters, trimmed, bounded. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
export function validName(name: string, maxLength: number): boolean {
  return name.length > 0 && name.length <= maxLength && name.trim() === name && !CONTROL.test(name);
}
