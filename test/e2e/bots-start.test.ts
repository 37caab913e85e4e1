/**
 * `npm start`'s program (bin/start.mjs, the build in bin/dist with Bolt and discord.js bundled in) serving Slack and
 * Discord against their local fakes: it starts, answers a command, and stops on Ctrl-C. The adapters' behaviour is
 * tested in test/adapters; this checks that the built program is the same bot.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { describe, test } from "node:test";
import { deployCommands, discordSettings } from "../../src/adapters/discord/index.ts";
import { FakeDiscord, startFakeDiscord } from "../fakes/discord.ts";
import { postSigned, slashCommandBody, startFakeSlack, waitFor } from "../fakes/slack.ts";
import { repoRoot, testEnv, tmpDir } from "../helpers.ts";

function startBot(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [path.join(repoRoot, "bin", "start.mjs")], {
    cwd: tmpDir("bot-cwd"), // no developer's .env
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const io = { out: "", err: "" };
  child.stdout.on("data", (d) => (io.out += d));
  child.stderr.on("data", (d) => (io.err += d));
  const exited = new Promise<number | null>((r) => child.on("close", r));
  /** What the bot printed, or a failure naming its stderr once it has exited without printing it. */
  const printed = (re: RegExp) => () => {
    const m = re.exec(io.out);
    if (!m && child.exitCode !== null) throw new Error(`the bot exited ${child.exitCode}:\n${io.out}\n${io.err}`);
    return m;
  };
  return { child, io, exited, printed };
}

async function stop(bot: { child: ChildProcess; exited: Promise<number | null> }) {
  bot.child.kill("SIGINT");
  return bot.exited;
}

describe("npm start's built program serves the chat platforms", () => {
  test("Slack over HTTP: listening, a signed /tune help acked and answered, Ctrl-C stops it", async () => {
    const token = "xoxb-1234567890-0987654321-FAKEbotTOKENvalue";
    const secret = "8f742231b10e8888abcd99yyyzzz85a5";
    const fake = await startFakeSlack({ botToken: token });
    // testEnv drops SLACK_* and DISCORD_* from the environment: the test's own are added after it.
    const bot = startBot({
      ...testEnv(tmpDir("slack-start")),
      SLACK_BOT_TOKEN: token,
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: fake.apiUrl,
      PORT: "0",
    });
    try {
      const port = await waitFor("the running line", bot.printed(/running on slack \(HTTP on port (\d+)\)/i));
      const responseUrl = fake.responseUrl();
      const body = slashCommandBody({ text: "help", userId: "U0ALICE01", channelId: "C0TUNE0001", responseUrl });
      const ack = await postSigned(`http://127.0.0.1:${port[1]}/slack/events`, secret, body);
      assert.equal(ack.status, 200, ack.text);
      const answer = await waitFor("the help answer", () =>
        fake.responses.find((r) => responseUrl.endsWith(r.id) && /dataset upload/.test(JSON.stringify(r.body))),
      );
      assert.ok(answer);
      assert.equal(await stop(bot), 0, bot.io.err);
    } finally {
      bot.child.kill("SIGKILL");
      await fake.close();
    }
  });

  test("Discord: logged in through the gateway, /tune dataset list answered, Ctrl-C stops it", async () => {
    const fake = await startFakeDiscord();
    const env = {
      DISCORD_TOKEN: fake.token,
      DISCORD_APPLICATION_ID: fake.applicationId,
      DISCORD_GUILD_ID: fake.guildId,
      DISCORD_API_URL: fake.apiUrl,
    };
    // `npm run discord:deploy`, done once before the bot is started.
    await deployCommands(discordSettings(env) as NonNullable<ReturnType<typeof discordSettings>>);
    const bot = startBot({
      ...testEnv(tmpDir("discord-start")),
      ...env,
    });
    try {
      await waitFor("the running line", bot.printed(/running on discord/i));
      const i = fake.slash(fake.user("alice"), "dataset list");
      const msg = await fake.waitFor("the answer", () => {
        const m = fake.original(i);
        return m && !(m.flags & 128) ? m : undefined;
      });
      assert.match(FakeDiscord.text(msg), /dataset/i);
      assert.equal(await stop(bot), 0, bot.io.err);
    } finally {
      bot.child.kill("SIGKILL");
      await fake.close();
    }
  });
});
