"""MCP servers across assistants: one model, each assistant's own file shape, edits that touch one entry.

Where each assistant keeps its servers, as its own ``mcp add`` writes them (checked with Claude Code
2.1.197, Codex 0.169.0, Qwen Code 0.24.4 and Gemini CLI 0.61.0)::

    tool    scope    file                                        servers at
    claude  user     ~/.claude.json ($CLAUDE_CONFIG_DIR/)        mcpServers
    claude  local    the same file                               projects["<project>"].mcpServers
    claude  project  <project>/.mcp.json                         mcpServers
    codex   user     $CODEX_HOME/config.toml (~/.codex/)         [mcp_servers.<name>]
    qwen    user     ~/.qwen/settings.json (JSONC)               mcpServers
    qwen    project  <project>/.qwen/settings.json               mcpServers
    gemini  user     ~/.gemini/settings.json (JSONC)             mcpServers
    gemini  project  <project>/.gemini/settings.json             mcpServers
    opencode user    ~/.config/opencode/opencode.json(c)         mcp
    opencode project <project>/opencode.json(c)                  mcp

The entry shapes are in :mod:`.shapes`. Safety rules:

* every write goes through :func:`safe_write.apply` with a pure transform that sets or deletes the one
  named entry in whatever is on disk at that moment (Claude rewrites ``~/.claude.json`` on every run:
  its changes and ours both survive); the rest of the file stays byte-identical;
* a small state file (``mcp-servers.json`` under the data dir) records which entries Mahavishnu wrote,
  each with a fingerprint of the server as written. ``sync`` and ``add`` never remove anything and
  refuse to overwrite a different same-named server that Mahavishnu did not add, or added but someone
  changed by hand since, unless asked to (cc-switch #1485 rewrote the whole map and lost servers);
  ``remove`` refuses, in every file or none, a server Mahavishnu did not add unless forced;
* what is printed (listings, diffs, errors, warnings) has its secrets masked (``masking``); a secret
  written into a user-scope file is named, masked, in a warning: it is stored there in plaintext;
* every file involved is parsed before the first write, so an invalid file stops the command with
  its line number and nothing is written; the files of one command are written as one transaction
  (``transaction.apply_all``: every file or none).

Modules: :mod:`.model` (the server), :mod:`.options` (command-line values), :mod:`.locations`,
:mod:`.shapes`, :mod:`.file_formats` (with :mod:`.toml_sections` for config.toml), :mod:`.state` (what
Mahavishnu added), :mod:`.listing` and :mod:`.editing` (the operations).
"""

from mahavishnu.environments.mcp_servers.editing import (
    McpChange,
    McpResult,
    add_server,
    install_self,
    remove_server,
    sync_server,
)
from mahavishnu.environments.mcp_servers.listing import Registered, find_server, list_servers
from mahavishnu.environments.mcp_servers.locations import Location, claude_json_path, location, locations
from mahavishnu.environments.mcp_servers.model import (
    TOOLS,
    TRANSPORTS,
    McpServer,
    looks_secret,
    masked_value,
)
from mahavishnu.environments.mcp_servers.options import parse_env, parse_headers, parse_tools
from mahavishnu.environments.mcp_servers.state import state_path
from mahavishnu.environments.scopes import SCOPES

__all__ = [
    "SCOPES",
    "TOOLS",
    "TRANSPORTS",
    "Location",
    "McpChange",
    "McpResult",
    "McpServer",
    "Registered",
    "add_server",
    "claude_json_path",
    "find_server",
    "install_self",
    "list_servers",
    "location",
    "locations",
    "looks_secret",
    "masked_value",
    "parse_env",
    "parse_headers",
    "parse_tools",
    "remove_server",
    "state_path",
    "sync_server",
]
