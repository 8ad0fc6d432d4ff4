"""A tiny Qwen3-MoE checkpoint written by the tests, and a mock Hugging Face Hub serving it on a
loopback port (selected by HF_ENDPOINT): no test touches the network.

The mock answers what ``huggingface_hub`` asks of the Hub for moecalc: HEAD and GET of
``/{org}/{name}/resolve/{revision}/{file}`` (with the commit and ETag headers, and byte ranges
for the safetensors headers), and the Hub's error codes for a missing repository (404), a
private one (401), a gated one (403 GatedRepo) and a rate limit (429).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

CONFIG = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "intermediate_size": 96, "moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 2,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "norm_topk_prob": True, "vocab_size": 256,
    "tie_word_embeddings": False, "max_position_embeddings": 4096, "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0, "torch_dtype": "bfloat16", "attention_bias": False,
}


def tensors(config: dict = CONFIG) -> dict[str, np.ndarray]:
    """Every tensor of a Qwen3-MoE checkpoint by transformers' names (fp16 matrices, fp32 norms).
    Its parameters, by hand: embedding and lm_head 256 x 64 each; a layer's attention
    q 64x64, k and v 32x64, o 64x64, q/k norms 16 each; router 4 x 64; 4 experts x 3 x 32 x 64;
    two norms of 64; the final norm 64."""
    h, hd, nh, nkv = config["hidden_size"], config["head_dim"], config["num_attention_heads"], config["num_key_value_heads"]
    E, mi, V = config["num_experts"], config["moe_intermediate_size"], config["vocab_size"]
    f16 = lambda *s: np.zeros(s, np.float16)
    f32 = lambda *s: np.zeros(s, np.float32)
    out = {"model.embed_tokens.weight": f16(V, h), "model.norm.weight": f32(h), "lm_head.weight": f16(V, h)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out.update({p + "input_layernorm.weight": f32(h), p + "post_attention_layernorm.weight": f32(h),
                    p + "self_attn.q_proj.weight": f16(nh * hd, h), p + "self_attn.k_proj.weight": f16(nkv * hd, h),
                    p + "self_attn.v_proj.weight": f16(nkv * hd, h), p + "self_attn.o_proj.weight": f16(h, nh * hd),
                    p + "self_attn.q_norm.weight": f32(hd), p + "self_attn.k_norm.weight": f32(hd),
                    p + "mlp.gate.weight": f16(E, h)})
        for j in range(E):
            out.update({p + f"mlp.experts.{j}.gate_proj.weight": f16(mi, h),
                        p + f"mlp.experts.{j}.up_proj.weight": f16(mi, h),
                        p + f"mlp.experts.{j}.down_proj.weight": f16(h, mi)})
    return out


PARAMS = 2 * 256 * 64 + 64 + 2 * (2 * 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 2 * 16 + 4 * 64 + 4 * 3 * 32 * 64)
"""The tiny model's parameters by hand: 2 x 16,384 + 64 + 2 x (128 + 4,096 + 4,096 + 4,096 + 32 + 256
+ 24,576) = 107,392."""


def write_checkpoint(folder: Path, config: dict = CONFIG, shards: int = 2, drop: tuple[str, ...] = (),
                     extra: dict | None = None) -> dict[str, np.ndarray]:
    """config.json and ``shards`` safetensors files with an index (one file: model.safetensors)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    named = {k: v for k, v in tensors(config).items() if k not in drop} | (extra or {})
    names = sorted(named)
    if shards == 1:
        save_file(named, str(folder / "model.safetensors"))
        return named
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: named[n] for n in names[s::shards]}
        save_file(part, str(folder / file))
        weight_map.update({n: file for n in part})
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return named


COMMIT = "0123456789abcdef0123456789abcdef01234567"


class MockHub:
    """Serve repositories (``{repo id: folder}``) the way the Hub's resolve endpoint does.
    ``status`` forces an answer for a repo: 401 (private), 403 (gated), 429 (rate limited)."""

    def __init__(self, repos: dict[str, Path], status: dict[str, int] | None = None):
        self.repos, self.status, self.requests = repos, status or {}, []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.answer(body=False)

            def do_GET(self):
                self.answer(body=True)

            def fail(self, code, error_code=None):
                self.send_response(code)
                if error_code:
                    self.send_header("X-Error-Code", error_code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def answer(self, body):
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return self.fail(404)
                repo, revision, file = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
                if repo in hub.status:
                    code = hub.status[repo]
                    return self.fail(code, {401: "RepoNotFound", 403: "GatedRepo"}.get(code))
                if repo not in hub.repos:
                    return self.fail(404, "RepoNotFound")
                if revision not in ("main", COMMIT):
                    return self.fail(404, "RevisionNotFound")
                path = hub.repos[repo] / file
                if not path.is_file():
                    return self.fail(404, "EntryNotFound")
                data = path.read_bytes()
                etag = hashlib.sha256(data).hexdigest()
                start, end = 0, len(data) - 1
                ranged = self.headers.get("Range")
                if ranged and body:
                    a, b = ranged.split("=")[1].split("-")
                    start, end = int(a), min(int(b or end), len(data) - 1)
                self.send_response(206 if ranged and body else 200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if body:
                    self.wfile.write(data[start:end + 1])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # shutdown() waits for the serving loop's next poll: 0.5 s by default, per test
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fetched_weights(self) -> bool:
        """Whether any request read past a safetensors header (a whole file or a late range)."""
        for method, path, ranged in self.requests:
            if method == "GET" and path.endswith(".safetensors"):
                if not ranged or int(ranged.split("=")[1].split("-")[0]) > 100_008:
                    return True
        return False
