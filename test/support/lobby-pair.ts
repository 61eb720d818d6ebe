import { RawClient } from "./raw-client.js";

/**
 * Two clients in room "lobby", for tests of abuse: after each abuse, a message from one to the
 * other must still be acknowledged and arrive (the server keeps serving everyone else).
 */
export class LobbyPair {
  private constructor(
    readonly bystander: RawClient,
    readonly other: RawClient,
  ) {}

  static async join(url: string): Promise<LobbyPair> {
    const inLobby = async (nick: string) => {
      const c = await RawClient.hello(url, nick);
      c.send({ type: "join", room: "lobby" });
      await c.next("joined");
      return c;
    };
    return new LobbyPair(await inLobby("bystander"), await inLobby("other"));
  }

  /** `other` sends `tag` (as id and text); it is acknowledged and `bystander` receives it. */
  async stillChat(tag: string): Promise<void> {
    const id = `check-${tag}`;
    this.other.send({ type: "send", room: "lobby", id, text: tag });
    await this.other.next("ack", (m) => m.id === id);
    await this.bystander.next("message", (m) => m.text === tag);
  }

  close(): void {
    this.bystander.close();
    this.other.close();
  }
}
