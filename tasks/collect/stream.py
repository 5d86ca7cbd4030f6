"""Assembling a streamed chat completion (server-sent events) into the response body the
same call would have had without streaming, as the proxy passes the stream through.

The proxy's event loop only `add`s the chunks it relays (no parsing there, which costs more
than relaying: one JSON document per token); the recorder's thread `close`s the assembler
and reads `response_body()`. Past `parse_after` kept bytes, `add` parses what it holds, so
a long stream costs bounded memory.

Each `data:` event of an OpenAI stream is a `chat.completion.chunk` whose choices carry a
`delta`: content arrives in pieces, tool calls arrive by index (id and name first, the
arguments JSON string in pieces), the finish reason last, and usage in a final chunk when
the caller asked for it. `data: [DONE]` ends the stream.
"""

from __future__ import annotations

import json
from typing import Any


class StreamAssembler:
    """Feed it the raw bytes of an SSE stream; `response_body()` is the assembled answer."""

    def __init__(self, parse_after: int = 1 << 20) -> None:
        self.parse_after = parse_after
        self._kept: list[bytes] = []
        self._kept_bytes = 0
        self._buffer = b""
        self._data: list[str] = []
        self.head: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.bad_events = 0

    def feed(self, chunk: bytes) -> None:
        """Parse `chunk` now (after what `add` kept)."""
        if self._kept:
            self._parse_kept()
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not line:
                self._dispatch()
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            # comments (":") and other fields (event:, id:, retry:) carry no answer

    def add(self, chunk: bytes) -> None:
        """Keep `chunk` to parse later: cheap, for the event loop that relays the stream."""
        self._kept.append(chunk)
        self._kept_bytes += len(chunk)
        if self._kept_bytes > self.parse_after:
            self._parse_kept()

    def _parse_kept(self) -> None:
        kept, self._kept, self._kept_bytes = self._kept, [], 0
        if kept:
            self.feed(b"".join(kept))

    def close(self) -> None:
        """The stream ended: parse what was kept, and dispatch a last event that had no
        blank line after it."""
        self._parse_kept()
        if self._buffer:
            self.feed(b"\n")
        self._dispatch()

    def _dispatch(self) -> None:
        if not self._data:
            return
        data, self._data = "\n".join(self._data), []
        if data.strip() == "[DONE]":
            self.done = True
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            self.bad_events += 1
            return
        if isinstance(chunk, dict):
            self.add_chunk(chunk)

    def add_chunk(self, chunk: dict[str, Any]) -> None:
        for key in ("id", "model", "created", "system_fingerprint", "service_tier"):
            if chunk.get(key) is not None:
                self.head.setdefault(key, chunk[key])
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if isinstance(choice, dict):
                self._add_choice(choice)

    def _add_choice(self, choice: dict[str, Any]) -> None:
        state = self.choices.setdefault(
            int(choice.get("index") or 0), {"message": {}, "calls": {}, "finish_reason": None}
        )
        if choice.get("finish_reason"):
            state["finish_reason"] = choice["finish_reason"]
        message = state["message"]
        for key, value in (choice.get("delta") or {}).items():
            if key == "tool_calls":
                for call in value or []:
                    self._add_call(state["calls"], call)
            elif key == "role":
                message["role"] = value
            elif isinstance(value, str):
                message[key] = (message.get(key) or "") + value
            elif value is not None:
                message[key] = value
            else:
                message.setdefault(key, None)

    @staticmethod
    def _add_call(calls: dict[int, dict[str, Any]], delta: dict[str, Any]) -> None:
        slot = calls.setdefault(
            int(delta.get("index") or 0),
            {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
        )
        if delta.get("id"):
            slot["id"] = delta["id"]
        if delta.get("type"):
            slot["type"] = delta["type"]
        fn = delta.get("function") or {}
        slot["function"]["name"] += fn.get("name") or ""
        slot["function"]["arguments"] += fn.get("arguments") or ""

    def response_body(self) -> dict[str, Any]:
        """The `chat.completion` body the stream amounts to."""
        choices = []
        for index, state in sorted(self.choices.items()):
            message = {"role": "assistant", "content": None, **state["message"]}
            if state["calls"]:
                message["tool_calls"] = [
                    {k: v for k, v in call.items() if v is not None}
                    for _, call in sorted(state["calls"].items())
                ]
            choices.append(
                {"index": index, "message": message, "finish_reason": state["finish_reason"]}
            )
        body = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            body["usage"] = self.usage
        return body
