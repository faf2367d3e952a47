"""The OpenAI chat transport of the dialogs: a model config and one streamed completion with tool calls.

``stream_chat`` yields text deltas as they come and then the assembled tool calls; every failure is
raised as a ``ProviderError`` (``integrations.openai_api`` maps them), and the first token has its own,
shorter deadline: a voice turn cannot wait for it. The salesperson (``dialogs.salesperson``) and the AI
customer (``dialogs.personas``) build their messages and tools on top of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from integrations.errors import ProviderError
from integrations.openai_api import map_openai_error, openai_client

log = logging.getLogger(__name__)


@dataclass
class LLMConfig:
    """How to reach the model. ``base_url`` points at OpenAI or a compatible (or test) server."""

    api_key: str = ""
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    timeout: float = 15.0  # whole request
    first_token_timeout: float = 4.0  # voice cannot wait longer for the first words
    max_tokens: int = 160
    temperature: float = 0.5
    _client: Any = field(default=None, repr=False, compare=False)

    def client(self) -> Any:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    def new_client(self) -> Any:
        """A client of its own (for a private event loop, e.g. analysis run from a sync task)."""
        # No SDK retries: a voice turn would rather fall back to the script than wait.
        return openai_client(self.api_key, base_url=self.base_url, timeout_s=self.timeout, required_key=False)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


async def stream_chat(config: LLMConfig, messages: list[dict[str, Any]],
                      tools: list[dict[str, Any]] | None = None) -> AsyncIterator[str | ToolCall]:
    """Stream text deltas, then the assembled tool calls; every failure is raised as ``ProviderError``."""
    kwargs: dict[str, Any] = {"model": config.model, "messages": messages, "stream": True,
                              "max_tokens": config.max_tokens, "temperature": config.temperature}
    if tools:
        kwargs["tools"] = tools
    calls: dict[int, dict[str, Any]] = {}
    try:
        async with asyncio.timeout(config.first_token_timeout):
            stream = await config.client().chat.completions.create(**kwargs)
        iterator = stream.__aiter__()
        first = True
        while True:
            try:
                async with asyncio.timeout(config.first_token_timeout if first else config.timeout):
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta is None:
                continue
            if delta.content:
                first = False
                yield delta.content
            for tc in delta.tool_calls or []:
                first = False
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        slot["name"] += tc.function.name
                    if tc.function.arguments:
                        slot["arguments"] += tc.function.arguments
    except ProviderError:
        raise
    except Exception as exc:
        raise map_openai_error(exc) from exc
    for _, call in sorted(calls.items()):
        try:
            args = json.loads(call["arguments"] or "{}")
        except json.JSONDecodeError:
            log.warning("tool call %s with malformed arguments %r", call["name"], call["arguments"])
            continue
        if isinstance(args, dict) and call["name"]:
            yield ToolCall(call["id"], call["name"], args)


def history_messages(history: Sequence[tuple[str, str]], *, bot_role: str = "assistant",
                     user_role: str = "user", limit: int = 16) -> list[dict[str, str]]:
    out = []
    for speaker, text in list(history)[-limit:]:
        if text:
            out.append({"role": bot_role if speaker == "bot" else user_role, "content": text})
    return out
