"""Label drafts from a language model, scored by the same simulation as the built-in labels.

The model is any OpenAI-compatible chat endpoint the user runs or pays for (vLLM, llama.cpp's
server, Ollama's ``/v1``, a hosted API): ``POST {endpoint}/chat/completions``.  It sees a
feature's evidence as text and must answer one line, ``<label> | <claim>``, where the claim is
in the simulator's terms:

- ``concept:<name>`` (one of the run's concepts), or
- ``word:<WORD>@<offset>`` (a DNA word whose first base sits ``offset`` nt from the position,
  on the feature's strand), or
- ``none``.

The claim, not the prose, is scored (:func:`genointerp.rank.score_labels`), so a draft is a
testable claim and the score does not depend on the language model; a draft whose claim
cannot be read is kept with kind ``none`` and no score.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ..errors import GenointerpError
from ._labels import Label

API_KEY_ENV = "GENOINTERP_LM_API_KEY"
CLAIM = re.compile(
    r"^(?:concept:(?P<concept>[A-Za-z0-9_]+)|word:(?P<word>[ACGTacgt]+)@(?P<offset>-?\d+)|none)$"
)

SYSTEM = (
    "You label features of a sparse autoencoder trained on a DNA language model's "
    "activations. Each feature fires at some nucleotide positions of a genome. Answer with "
    "ONE line: '<short label> | <claim>', where <claim> is 'concept:<name>' with a name from "
    "the list of concepts, or 'word:<WORD>@<offset>' for a DNA word whose first base lies "
    "<offset> nt from the firing position on its strand (negative: upstream), or 'none'. "
    "The claim will be tested by predicting where the feature fires."
)


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible chat endpoint: ``url`` up to ``/v1``, the model's name, and the
    API key (default: the ``GENOINTERP_LM_API_KEY`` environment variable, if any)."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0

    def complete(self, system: str, user: str) -> str:
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
        headers = {"Content-Type": "application/json"}
        key = self.api_key or os.environ.get(API_KEY_ENV)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = self.url.rstrip("/") + "/chat/completions"
        request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as err:  # the server answered, with an error
            detail = " ".join(err.read()[:300].decode("utf-8", "replace").split())[:200]
            raise GenointerpError(
                f"language model endpoint {url} answered HTTP {err.code}: {detail}. Fix: check "
                f"--lm-model ({self.model!r}) and the key in ${API_KEY_ENV}"
            ) from err
        except (urllib.error.URLError, TimeoutError, json.JSONDecodeError) as err:
            raise GenointerpError(
                f"language model endpoint {url}: {err}. Fix: check --lm-endpoint (an "
                "OpenAI-compatible server, e.g. http://localhost:8000/v1) and that it is up"
            ) from err
        try:
            return str(answer["choices"][0]["message"]["content"])
        except (KeyError, IndexError, TypeError) as err:
            raise GenointerpError(
                f"language model endpoint {url} answered without choices[0].message.content: "
                f"{str(answer)[:200]}. Fix: point at an OpenAI-compatible chat endpoint"
            ) from err


def evidence_text(row: dict, sites: pd.DataFrame | None, concepts: Sequence[str]) -> str:
    """A feature's evidence as the prompt: its catalog numbers and top sites' contexts."""
    lines = [f"feature {int(row['feature'])}, class {row.get('class')}"]
    for key, name in (
        ("best_concept", "best-matching concept"),
        ("test_element_f1", "held-out element-F1 with it"),
        ("density", "fraction of positions where it fires"),
        ("coding_fraction", "share of its activity inside coding sequence"),
        ("attribution_core", "bases that drive it (attribution)"),
        ("attribution_offset", "their first base relative to the position"),
    ):
        value = row.get(key)
        if value is not None and not (isinstance(value, float) and pd.isna(value)):
            lines.append(f"{name}: {value}")
    phases = [row.get(f"phase{j}") for j in range(3)]
    if all(isinstance(p, float) and not pd.isna(p) for p in phases):
        lines.append("share on codon positions 1, 2, 3: " + ", ".join(f"{p:.2f}" for p in phases))
    if sites is not None and len(sites):
        contexts = sites.nlargest(10, "activation")["context"].astype(str)
        lines.append("top sites, read on the firing strand, the firing base at the centre:")
        lines += [f"  {c}" for c in contexts]
    lines.append("concepts: " + ", ".join(concepts))
    return "\n".join(lines)


def parse_draft(feature: int, answer: str, concepts: Sequence[str]) -> Label:
    """A :class:`Label` from an answer ``<label> | <claim>``; an unreadable claim, or a
    concept the run lacks, gives kind ``none`` (kept, not scored)."""
    line = next((s.strip() for s in answer.strip().splitlines() if "|" in s), answer.strip())
    text, _, claim = line.rpartition("|")
    text = text.strip() or line
    found = CLAIM.match(claim.strip())
    if found is None or (found["concept"] and found["concept"] not in concepts):
        return Label(feature, text)
    if found["concept"]:
        return Label(feature, text, concept=found["concept"])
    if found["word"]:
        return Label(feature, text, word=found["word"].upper(), offset=int(found["offset"]))
    return Label(feature, text)


def draft_labels(
    table: pd.DataFrame,
    top_sites: pd.DataFrame | None,
    concepts: Sequence[str],
    endpoint: Endpoint,
    *,
    progress: bool = True,
) -> list[Label]:
    """One drafted label per row of ``table`` (catalog rows), asked of ``endpoint``.

    A failed first request raises (the endpoint or its settings are wrong); a later failed
    request is logged and its feature gets an unscored draft, so one error does not lose
    the others."""
    import logging

    from tqdm.auto import tqdm

    by_feature = dict(tuple(top_sites.groupby("feature"))) if top_sites is not None else {}
    labels = []
    rows = table.to_dict("records")
    for row in tqdm(rows, desc="draft labels", unit="feature", disable=not progress):
        feature = int(row["feature"])
        prompt = evidence_text(row, by_feature.get(feature), concepts)
        try:
            answer = endpoint.complete(SYSTEM, prompt)
        except GenointerpError as err:
            if not labels:
                raise
            logging.getLogger(__name__).warning("feature %d: no draft (%s)", feature, err)
            answer = "no answer | none"
        labels.append(parse_draft(feature, answer, concepts))
    return labels


__all__ = ["API_KEY_ENV", "Endpoint", "draft_labels", "evidence_text", "parse_draft"]
