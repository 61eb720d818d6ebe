import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** A Lua script run by its hash (EVALSHA), sent in full again when Redis restarted and forgot it. */
export class Script {
  private readonly sha: string;

  constructor(private readonly lua: string, private readonly keyCount: number) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /** `args`: the keyCount keys first, then the arguments. */
  async run(redis: Redis, args: Array<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, this.keyCount, ...args);
    } catch (error) {
      if (!String((error as Error).message).startsWith("NOSCRIPT")) throw error;
      return redis.eval(this.lua, this.keyCount, ...args);
    }
  }
}
