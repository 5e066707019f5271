// Mahavishnu's memory loop in OpenCode: recall into every prompt, capture of every turn.
// Written by `mahavishnu memory hooks install --tool opencode`, removed by `... hooks remove`;
// `mahavishnu memory hooks status` tells whether it was changed by hand (the hash above).
//
// Recall: at a session's first prompt (in this OpenCode process) and at every prompt, the hook
// command `memory context --tool opencode` gets the hook's JSON on stdin and prints what to add;
// that text goes with its prompt, as a part of the user's message, into every request of the
// session (never into the stored conversation, so a capture never reads it back, and never into
// the system prompt, which would lend it an authority it must not have). Capture: when a session goes idle (its turn
// ended), `memory import --tool opencode -` reads the session from OpenCode's database.
// A command that is missing, fails, prints nonsense or outlasts CONFIG.timeoutMs changes nothing:
// OpenCode goes on as if there were no plugin. Nothing here throws.
import { spawn } from "node:child_process"

const CONFIG = __MAHAVISHNU_CONFIG__
const MAX_OUTPUT = 1 << 20 // a recall is a few kB; more than this is not ours
const OURS = "-mahavishnu" // the end of the id of a part the plugin adds

/** Run argv with payload as JSON on stdin: its stdout when it exits 0 in time, else null. */
function run(argv, payload) {
  return new Promise((resolve) => {
    let out = ""
    let done = false
    let child
    const finish = (value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve(value)
    }
    const stop = () => {
      try {
        child?.kill("SIGKILL")
      } catch {}
      finish(null)
    }
    const timer = setTimeout(stop, CONFIG.timeoutMs)
    try {
      child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "ignore"], windowsHide: true })
      child.on("error", () => finish(null))
      child.on("close", (code) => finish(code === 0 ? out : null))
      child.stdout.setEncoding("utf8")
      child.stdout.on("data", (chunk) => {
        out += chunk
        if (out.length > MAX_OUTPUT) stop()
      })
      child.stdin.on("error", () => {})
      child.stdin.end(JSON.stringify(payload))
    } catch {
      stop()
    }
  })
}

/** The text a recall answer adds, or "" (nothing to add, or not an answer). */
function added(out) {
  try {
    const text = JSON.parse(out)?.hookSpecificOutput?.additionalContext
    return typeof text === "string" ? text : ""
  } catch {
    return ""
  }
}

async function recall(payload) {
  const out = await run(CONFIG.recall, payload)
  return out ? added(out) : ""
}

export const MahavishnuMemory = async ({ directory }) => {
  const started = new Set() // the sessions this process asked the session start's recall for
  const recalled = new Map() // user message id -> what recall added to it
  return {
    "chat.message": async (input, output) => {
      try {
        const session = input?.sessionID
        const message = output?.message?.id
        if (typeof session !== "string" || typeof message !== "string") return
        const parts = Array.isArray(output?.parts) ? output.parts : []
        const prompt = parts
          .filter((part) => part?.type === "text" && !part.synthetic && typeof part.text === "string")
          .map((part) => part.text)
          .join("\n")
        const base = { session_id: session, cwd: directory }
        const blocks = []
        if (!started.has(session)) {
          // New to this process: whatever an earlier one added is not in the context any more.
          started.add(session)
          blocks.push(await recall({ ...base, hook_event_name: "SessionStart", source: "clear" }))
        }
        if (prompt) blocks.push(await recall({ ...base, hook_event_name: "UserPromptSubmit", prompt }))
        const text = blocks.filter(Boolean).join("\n\n")
        if (text) recalled.set(message, text)
      } catch {}
    },
    "experimental.chat.messages.transform": async (_input, output) => {
      try {
        // The messages about to be sent (read again from the database for each request): the
        // recall joins its prompt there, as OpenCode's own synthetic parts do, and is never stored.
        for (const message of Array.isArray(output?.messages) ? output.messages : []) {
          const info = message?.info
          const text = info?.role === "user" ? recalled.get(info.id) : undefined
          if (!text || !Array.isArray(message.parts)) continue
          if (message.parts.some((part) => String(part?.id).endsWith(OURS))) continue // (a list seen before)
          message.parts.push({
            id: `${message.parts.at(-1)?.id ?? "prt"}${OURS}`,
            messageID: info.id,
            sessionID: info.sessionID,
            type: "text",
            text,
            synthetic: true,
          })
        }
      } catch {}
    },
    event: async ({ event }) => {
      try {
        const session = event?.properties?.sessionID
        if (event?.type !== "session.idle" || typeof session !== "string") return
        await run(CONFIG.capture, { hook_event_name: "Stop", session_id: session, cwd: directory })
      } catch {}
    },
  }
}
