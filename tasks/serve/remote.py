"""The `openai` backend: champions answered by an OpenAI-compatible server that hosts the
adapters (vLLM with `--enable-lora`, LoRAX, ...), the router sending `model=<adapter>`.

- `load(champion)` asks the server to load the champion's adapter under the name
  `<slug>__v<version>` (vLLM's `POST /v1/load_lora_adapter`, which needs
  VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and the adapter folder visible to the server at the
  same path); a server without that endpoint must already serve it as `<slug>`
  (`--lora-modules <slug>=<bundle>`). That server is `serve.backend_url`.
- A DoRA champion is not an adapter vLLM loads: it is served merged into its base
  (deploy-adapter's `<bundle>/merged`) as a model of its own, by the server
  `serve.backend_models` names for it (`Champion.server_url`; an entry keyed by the slug
  applies to the cluster's DoRA champions only, so a LoRA one that follows goes back to
  `serve.backend_url`), under the name `<slug>__v<version>` (`vllm serve
  <bundle>/merged --served-model-name <slug>__v<version>`). `load` asks nothing to be
  loaded; it checks that the server lists that exact name (so another version's weights are
  never taken for it), and raises, disabling the champion, when no server is named or the
  name is not served.
- `answer` sends the prompt evaluation builds, greedy (`temperature: 0`), with
  `logprobs: true`, and (`serve.backend_grammar`) the answer grammar of the request's tools
  as `structured_outputs: {"grammar": <lark>}`: the same Lark text the local backend
  compiles (decoding/grammar.py), which vLLM's llguidance backend runs. The confidence comes
  from the logprobs the server returns for the chosen tokens, by the champion's signal.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Any

from slimline.chat_format import TOOL_CALL_OPEN
from slimline.decoding import Answer, confidence
from slimline.decoding.confidence import token_spans, tool_value_char_spans
from slimline.decoding.grammar import tool_call_lark, tool_functions


class OpenAIBackend:
    """Champions on OpenAI-compatible servers."""

    def __init__(self, base_url: str, api_key_env: str | None = None, grammar: bool = True) -> None:
        import httpx

        headers = {}
        if api_key_env and os.environ.get(api_key_env):
            headers["authorization"] = f"Bearer {os.environ[api_key_env]}"
        self.base_url = base_url.rstrip("/")
        self.grammar = grammar
        self.client = httpx.Client(headers=headers, timeout=None, trust_env=False)
        self.routes: dict[str, tuple[str, str]] = {}  # adapter -> (server, model it serves)
        self.runtime: set[str] = set()  # adapters loaded at runtime (unloaded after a swap)
        self._tokenizers: dict[str, Any] = {}
        self._lock = threading.Lock()

    def load(self, champion: Any, timeout: float | None = 600.0) -> None:
        """Have a server serve the champion; raises (the router disables it) when none can."""
        if champion.serve_form == "merged":
            url = self._check_merged(champion, timeout)
            self.routes[champion.adapter] = (url, champion.adapter)
            self.tokenizer(champion)
            return
        url = self.base_url
        body = {"lora_name": champion.adapter, "lora_path": str(champion.adapter_dir)}
        r = self.client.post(f"{url}/load_lora_adapter", json=body, timeout=timeout)
        if r.status_code == 200 or "already been loaded" in r.text:
            self.routes[champion.adapter] = (url, champion.adapter)
            self.runtime.add(champion.adapter)
        else:  # no runtime loading: the server must have been started with it
            if champion.model not in self._served(url, timeout):
                raise RuntimeError(
                    f"the server at {url} cannot load {champion.adapter} "
                    f"({r.status_code}) and does not serve {champion.model}"
                )
            self.routes[champion.adapter] = (url, champion.model)
        self.tokenizer(champion)

    def _check_merged(self, champion: Any, timeout: float | None) -> str:
        """The server of a DoRA champion: the one serve.backend_models names for it, which
        must serve its merged model under its versioned name."""
        how = (
            f"serve {champion.merged_dir or '<bundle>/merged'} as a model of its own "
            f"(vllm serve ... --served-model-name {champion.adapter}) and name that server "
            f"in serve.backend_models ({champion.adapter} or {champion.model}: its URL)"
        )
        if champion.server_url is None:
            raise RuntimeError(
                f"{champion.adapter} is a DoRA adapter, which vLLM does not load; no server "
                f"serves it merged: {how}"
            )
        url = champion.server_url.rstrip("/")
        if champion.adapter not in self._served(url, timeout):
            raise RuntimeError(
                f"the server at {url} does not serve {champion.adapter} (the DoRA champion "
                f"merged into its base): {how}"
            )
        return url

    def _served(self, url: str, timeout: float | None) -> set[str]:
        """The model names the server at `url` lists."""
        models = self.client.get(f"{url}/models", timeout=timeout).json()
        return {m.get("id") for m in models.get("data", [])}

    def unload(self, champion: Any) -> None:
        """Unload an adapter loaded at runtime; a model a server serves as is stays there
        (its route is kept for the requests still in flight on it)."""
        if champion.adapter in self.runtime:
            self.runtime.discard(champion.adapter)
            url, name = self.routes.pop(champion.adapter)
            self.client.post(f"{url}/unload_lora_adapter", json={"lora_name": name})

    def tokenizer(self, champion: Any) -> Any:
        """The base model's tokenizer: prompts are fitted to the window as evaluation does."""
        with self._lock:
            tok = self._tokenizers.get(champion.base_model)
            if tok is None:
                from slimline.models import load_tokenizer

                tok = self._tokenizers[champion.base_model] = load_tokenizer(champion.base_model)
            return tok

    def answer(self, champion: Any, job: Any, timeout: float) -> tuple[Answer, float]:
        import httpx

        route = self.routes.get(champion.adapter)
        if route is None and champion.serve_form == "merged":  # never another model for it
            raise RuntimeError(f"{champion.adapter}: no server serves it merged")
        url, model = route or (self.base_url, champion.model)
        body: dict[str, Any] = {
            "model": model,
            "messages": job.prompt,
            "max_tokens": job.max_new_tokens,
            "temperature": 0,
            "logprobs": True,
        }
        if self.grammar and tool_functions(job.tools):
            body["structured_outputs"] = {"grammar": tool_call_lark(job.tools, rule=job.rule)}
        started = time.perf_counter()
        try:
            r = self.client.post(f"{url}/chat/completions", json=body, timeout=timeout)
        except httpx.TimeoutException:
            raise TimeoutError(f"{url} took over {timeout} s") from None
        r.raise_for_status()
        return answer_from(r.json(), job.signal), time.perf_counter() - started

    def stop(self) -> None:
        self.client.close()


def answer_from(completion: dict[str, Any], signal: str) -> Answer:
    """An Answer from a chat.completion with logprobs: text, per-token probabilities, the
    token spans of tool-call values, the confidence by `signal`."""
    choice = completion["choices"][0]
    text = (choice.get("message") or {}).get("content") or ""
    tokens = ((choice.get("logprobs") or {}).get("content")) or []
    probs = [math.exp(t["logprob"]) for t in tokens]
    offsets, at = [], 0
    for t in tokens:
        offsets.append((at, at + len(t.get("token", ""))))
        at += len(t.get("token", ""))
    spans = token_spans(tool_value_char_spans(text), offsets) if TOOL_CALL_OPEN in text else []
    end = None if choice.get("finish_reason") == "length" else 1.0
    ids = list(range(len(tokens)))  # the server's token ids are not returned; counted only
    return Answer(text, ids, probs, end, spans, confidence(probs, spans, signal))
