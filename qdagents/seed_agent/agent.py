"""The qdagents seed agent: one loop, two tools (bash, write_file), stdlib only. It talks to the
gateway (OpenAI-compatible, on the unix socket $QDAGENTS_GATEWAY), works in the current directory
and stops when the model answers without a tool call. What evolution may change is near the top."""
import http.client
import json
import os
import socket
import subprocess

MAX_STEPS = 8
OUTPUT_LIMIT = 4000
COMMAND_TIMEOUT = 20
SYSTEM_PROMPT = """You are a coding agent working in a Python project in the current directory.
Fix the problem the user describes by changing the code.
Use the tools to look at files and to change them.
When you are done, answer without calling a tool."""


def trim(text):
    """Keeps the head and tail of long output so the conversation stays small."""
    if len(text) <= OUTPUT_LIMIT:
        return text
    half = OUTPUT_LIMIT // 2
    return text[:half] + f"\n[... {len(text) - OUTPUT_LIMIT} characters cut ...]\n" + text[-half:]


def bash(command):
    """Runs a shell command in the workspace and returns its trimmed output."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"error: the command timed out after {COMMAND_TIMEOUT}s"
    return trim(done.stdout + done.stderr) or f"(no output, exit code {done.returncode})"


def write_file(path, content):
    """Writes a whole file, creating or replacing it."""
    with open(path, "w") as file:
        file.write(content)
    return f"wrote {len(content.splitlines())} lines to {path}"


def tool(name, description, **params):
    """An OpenAI function-tool schema whose parameters are required strings."""
    properties = {key: {"type": "string", "description": text} for key, text in params.items()}
    parameters = {"type": "object", "properties": properties, "required": list(params)}
    return {"type": "function",
            "function": {"name": name, "description": description, "parameters": parameters}}


TOOLS = [
    tool("bash", "Run a shell command in the workspace; returns its output.", command="command"),
    tool("write_file", "Write a whole file (replaces it).", path="path", content="new content"),
]
DISPATCH = {
    "bash": bash,
    "write_file": write_file,
}


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the gateway's unix socket."""

    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.socket_path)


def chat(messages):
    """One chat-completions call; returns the response body, or {"error": ...} on any failure."""
    try:
        connection = UnixHTTPConnection(os.environ["QDAGENTS_GATEWAY"])
        body = json.dumps({"model": "coder", "messages": messages, "tools": TOOLS})
        connection.request("POST", "/v1/chat/completions", body,
                           {"Content-Type": "application/json"})
        reply = json.loads(connection.getresponse().read() or b"{}")
        connection.close()
        return reply if isinstance(reply, dict) else {"error": {"message": "not a JSON object"}}
    except (OSError, KeyError, ValueError, http.client.HTTPException) as error:
        return {"error": {"type": "connection", "message": str(error)}}


def run_tool(call):
    """Executes one tool call; errors come back to the model as text."""
    try:
        arguments = json.loads(call["function"].get("arguments") or "{}")
        return str(DISPATCH[call["function"]["name"]](**arguments))
    except Exception as error:
        return f"error: {type(error).__name__}: {error}"


def main():
    problem = open(os.environ.get("QDAGENTS_PROBLEM", "/task/problem.md")).read()
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": problem}]
    for step in range(MAX_STEPS):
        reply = chat(messages)
        if "error" in reply or not reply.get("choices"):
            print("stopping:", json.dumps(reply.get("error", reply))[:300])
            return
        message = reply["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        messages.append({"role": "assistant", "content": message.get("content")})
        if not calls:
            print(message.get("content") or "")
            return
        messages[-1]["tool_calls"] = calls
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": run_tool(call)})
    print(f"stopping: reached MAX_STEPS={MAX_STEPS}")


if __name__ == "__main__":
    main()
