"""Test fixtures of evaluate, promote and deploy-adapter: real PEFT LoRA adapters on the
session's tiny random Llama (`tiny_base`, tests/conftest.py), train runs in MLflow holding
them under `adapter/`, a few real tau2 calls of one agent, and a fake LLM judge that speaks
the OpenAI protocol.

Imported by the conftest files of tests/tasks/evaluate, tests/tasks/promote and tests/flows.
"""

from __future__ import annotations

import gzip
import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

SLUG = "tau2-airline-tools"
CLUSTER_ID = 3
GOOD = {  # held-out metrics of a challenger that passes the gate's thresholds
    "n_tool_calls": 20.0,
    "response_type_accuracy": 0.97,
    "name_accuracy": 0.96,
    "name_args_accuracy": 0.95,
    "arg_f1": 0.95,
    "valid_tool_call_rate": 1.0,
    "text_similarity": 0.81,
}
SERVES = {"coverage": 0.3, "served_agreement": 0.95, "served": 9.0}  # what GOOD's adapter serves


def build_adapter(base_dir: str, folder: Path, seed: int, context: dict | None = None) -> Path:
    """A real PEFT LoRA adapter on the tiny base with random (non-zero) weights, saved with
    the tokenizer and a distilled_context.json like training writes."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    cfg = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, cfg)
    peft_model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(folder)
    data = dict(context or {})
    data["base_model"] = base_dir
    (folder / "distilled_context.json").write_text(json.dumps(data))
    return folder


def log_train_run(
    settings, adapter_dir: Path, cluster_id: int = CLUSTER_ID, slug: str = SLUG, base: str = ""
) -> str:
    """A finished MLflow train run of the cluster with the adapter under `adapter/`."""
    import mlflow

    from slimline.tracking import CLUSTER_TAG, SLUG_TAG, STAGE_TAG, mlflow_experiment

    mlflow_experiment(settings)
    tags = {STAGE_TAG: "train", CLUSTER_TAG: str(cluster_id), SLUG_TAG: slug}
    with mlflow.start_run(run_name=f"train-{slug}", tags=tags) as run:
        if base:
            mlflow.log_param("base_model", base)
        mlflow.log_artifacts(str(adapter_dir), "adapter")
    return run.info.run_id


def store_cluster(work, records, cluster_id: int = CLUSTER_ID, slug: str = SLUG, stats=None):
    """The records as scrubbed calls of one cluster in the work store."""
    work.add_scrubbed(list(enumerate(records, 1)))
    work.save_cluster(
        {
            "cluster_id": cluster_id,
            "slug": slug,
            "label": slug.replace("-", " "),
            "keywords": [],
            "top_tools": [],
            "stats": stats or {"calls": len(records)},
            "model_version": 1,
        }
    )
    work.assign(
        [
            {"call_id": r.id, "cluster_id": cluster_id, "probability": 1.0, "model_version": 1}
            for r in records
        ]
    )


def airline_records(tau2_path: Path, limit_lines: int = 400):
    """The tau2-airline calls among the first `limit_lines` lines of the bundled data."""
    from slimline.tasks.collect.formats import from_chat_completion_pair

    out = []
    with gzip.open(tau2_path, "rt") as f:
        for n, line in enumerate(f, 1):
            if n > limit_lines:
                break
            obj = json.loads(line)
            if obj.get("agent") == "tau2-airline":
                out.append(from_chat_completion_pair(obj, str(tau2_path), f"line {n}"))
    return out


_built: dict[str, object] = {}  # shared by the conftests that import these fixtures


@pytest.fixture(scope="session")
def tiny_adapters(tiny_base, tmp_path_factory) -> dict[str, Path]:
    """Two different adapters on the tiny base: `a` and `b`."""
    if "adapters" not in _built:
        root = tmp_path_factory.mktemp("tiny-adapters")
        _built["adapters"] = {
            name: build_adapter(tiny_base, root / name, seed) for name, seed in (("a", 1), ("b", 2))
        }
    return _built["adapters"]


@pytest.fixture(scope="session")
def airline(tau2_path):
    records = airline_records(tau2_path)
    if len({r.conversation_id for r in records}) < 3:
        pytest.fail("the first lines of the bundled data hold too few airline conversations")
    return records


def copy_adapter(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


class FakeOpenAI(BaseHTTPRequestHandler):
    """Speaks POST /v1/chat/completions; grades by what the candidate says."""

    seen: ClassVar[list] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOpenAI.seen.append((self.path, self.headers.get("Authorization"), body))
        if self.path != "/v1/chat/completions":
            self.send_response(404)
            self.end_headers()
            return
        prompt = body["messages"][-1]["content"]
        grade = "1"
        if "Candidate reply:\nexactly right" in prompt:
            grade = "5"
        elif "Candidate reply:\nno grade" in prompt:
            grade = "I cannot tell"
        reply = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": grade},
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeOpenAI.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
