// Mahavishnu's memory loop for Pi, written by `mahavishnu memory hooks install --tool pi` and
// removed by `mahavishnu memory hooks remove --tool pi`, edited or not (install leaves a copy you
// edited as it is; `mahavishnu ai rollback` brings back one remove deleted).
//
// * recall: before each prompt reaches the model (before_agent_start), `mahavishnu memory context
//   --tool pi` reads a hook JSON on stdin and prints the memories to add; they go in as one hidden
//   custom message (kept in the session, so a memory is sent once per session). The session
//   start's recall (the project's decisions) runs at session_start and is added to the first prompt.
// * capture: after each prompt's run (agent_end), `mahavishnu memory import --tool pi -` imports
//   the session file's new turns.
// * tools: search_memory and store_memory run `mahavishnu memory search` / `memory store`.
//
// A hook that fails (mahavishnu missing, crashing, slow, any exit code) never stops Pi: it is
// ended after its timeout and Pi carries on without it, silently.
import { spawn } from "node:child_process";

const MAHAVISHNU = __MAHAVISHNU_COMMAND__;
const HOOK_TIMEOUT_MS = __HOOK_TIMEOUT_MS__;
const TOOL_TIMEOUT_MS = 60000;
const MAX_OUTPUT = 1 << 20; // a recall's answer is a few KB: more is not ours to read
const MESSAGE_TYPE = "mahavishnu-memory";

function run(args, input, cwd, timeoutMs) {
	return new Promise((resolve) => {
		let child;
		try {
			child = spawn(MAHAVISHNU[0], [...MAHAVISHNU.slice(1), ...args], {
				cwd: cwd || undefined,
				stdio: ["pipe", "pipe", "pipe"],
				windowsHide: true,
			});
		} catch {
			resolve(null);
			return;
		}
		let stdout = "";
		let stderr = "";
		let done = false;
		const finish = (value) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			resolve(value);
		};
		const timer = setTimeout(() => {
			try {
				child.kill("SIGKILL");
			} catch {}
			finish(null);
		}, timeoutMs);
		child.on("error", () => finish(null));
		// (decoded across chunks: a character split between two reads stays whole, not two U+FFFD)
		child.stdout.setEncoding("utf8");
		child.stderr.setEncoding("utf8");
		child.stdout.on("data", (data) => {
			if (stdout.length < MAX_OUTPUT) stdout += data;
		});
		child.stderr.on("data", (data) => {
			if (stderr.length < MAX_OUTPUT) stderr += data;
		});
		child.on("close", (code) => finish({ code, stdout, stderr }));
		child.stdin.on("error", () => {}); // (a command that exits before reading its input)
		child.stdin.end(input);
	});
}

function hookJson(event, ctx, extra) {
	const payload = { hook_event_name: event, ...extra };
	const manager = ctx?.sessionManager;
	const session = manager?.getSessionId?.();
	const file = manager?.getSessionFile?.();
	const cwd = ctx?.cwd ?? manager?.getCwd?.();
	if (typeof session === "string") payload.session_id = session;
	if (typeof file === "string") payload.transcript_path = file;
	if (typeof cwd === "string") payload.cwd = cwd;
	return JSON.stringify(payload);
}

async function recall(event, ctx, extra) {
	try {
		const ran = await run(["memory", "context", "--tool", "pi"], hookJson(event, ctx, extra), ctx?.cwd, HOOK_TIMEOUT_MS);
		if (!ran || ran.code !== 0 || !ran.stdout.trim()) return "";
		const answer = JSON.parse(ran.stdout);
		const text = answer?.hookSpecificOutput?.additionalContext;
		return typeof text === "string" ? text : "";
	} catch {
		return "";
	}
}

function capture(ctx) {
	const file = ctx?.sessionManager?.getSessionFile?.();
	if (typeof file !== "string") return Promise.resolve(); // an in-memory session (--no-session)
	return run(["memory", "import", "--tool", "pi", "-"], hookJson("Stop", ctx, {}), ctx?.cwd, HOOK_TIMEOUT_MS).catch(() => null);
}

function toolText(ran, what) {
	if (!ran) throw new Error(`mahavishnu did not answer (${what}): is it installed?`);
	if (ran.code !== 0) throw new Error((ran.stderr || ran.stdout).trim().split("\n")[0] || `${what} failed`);
	return ran.stdout.trim();
}

export default function (pi) {
	let sessionStart = null;
	const pending = new Set();

	pi.on("session_start", (event, ctx) => {
		sessionStart = recall("SessionStart", ctx, { source: String(event?.reason ?? "startup") });
	});
	pi.on("session_compact", (_event, ctx) => {
		sessionStart = recall("SessionStart", ctx, { source: "compact" });
	});
	pi.on("before_agent_start", async (event, ctx) => {
		try {
			const texts = [];
			if (sessionStart) {
				texts.push(await sessionStart);
				sessionStart = null;
			}
			const prompt = typeof event?.prompt === "string" ? event.prompt : "";
			texts.push(await recall("UserPromptSubmit", ctx, { prompt }));
			const content = texts.filter((text) => text).join("\n\n");
			if (!content) return undefined;
			return { message: { customType: MESSAGE_TYPE, content, display: false } };
		} catch {
			return undefined;
		}
	});
	pi.on("agent_end", (_event, ctx) => {
		const done = capture(ctx);
		pending.add(done);
		done.finally(() => pending.delete(done));
	});
	pi.on("session_shutdown", async () => {
		await Promise.allSettled([...pending]); // each ends within HOOK_TIMEOUT_MS
	});

	pi.registerTool({
		name: "search_memory",
		label: "Search memory",
		description:
			"Search Mahavishnu's shared memory (decisions, insights, notes and past turns of every assistant). Returns JSON hits, best first.",
		promptSnippet: "Search the shared memory of past sessions and decisions",
		parameters: {
			type: "object",
			properties: {
				query: { type: "string", description: "What to look for" },
				limit: { type: "integer", minimum: 1, maximum: 50, description: "How many hits (default 10)" },
			},
			required: ["query"],
		},
		async execute(_id, params, _signal, _update, ctx) {
			const limit = String(params.limit ?? 10);
			// --for-agents: a quarantined memory's text (or one that reads like an instruction) is withheld, as the MCP tool withholds it
			const ran = await run(["memory", "search", "--json", "--for-agents", "--limit", limit, "--", String(params.query)], "", ctx?.cwd, TOOL_TIMEOUT_MS);
			return { content: [{ type: "text", text: toolText(ran, "memory search") || "[]" }], details: {} };
		},
	});
	pi.registerTool({
		name: "store_memory",
		label: "Store memory",
		description:
			"Remember something in Mahavishnu's shared memory (a decision, an insight or a note) for later sessions of any assistant.",
		promptSnippet: "Store a decision, insight or note in the shared memory",
		parameters: {
			type: "object",
			properties: {
				content: { type: "string", description: "The text to remember" },
				type: { type: "string", enum: ["note", "decision", "insight"], description: "What it is (default note)" },
			},
			required: ["content"],
		},
		async execute(_id, params, _signal, _update, ctx) {
			const kind = String(params.type ?? "note");
			const args = ["memory", "store", "--json", "--type", kind, "--source", "pi", "--agent", "pi", "-"];
			const ran = await run(args, String(params.content), ctx?.cwd, TOOL_TIMEOUT_MS);
			return { content: [{ type: "text", text: toolText(ran, "memory store") }], details: {} };
		},
	});
}
