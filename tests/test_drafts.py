"""Language-model label drafts: the client speaks the OpenAI chat protocol to a local HTTP
server, and the drafts' claims are scored by the same simulation as the built-in labels.

No language model runs here (none can be downloaded in tests): the server below answers
from the prompt by a fixed rule, standing in for one, so what is tested is the client, the
claim parser and the scoring path."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

import genointerp as gi
from genointerp.cli import main
from genointerp.errors import GenointerpError


class RuleModel(BaseHTTPRequestHandler):
    """``/v1/chat/completions``: a known feature is labelled with its best concept; every
    third other feature gets an unreadable answer, the rest 'none'; model 'deny' gets
    HTTP 401, and the second request of a run HTTP 500."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        RuleModel.seen.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), **body}
        )
        if body["model"] == "deny" or len(RuleModel.seen) == 2:  # a bad key; a hiccup
            self.send_error(401 if body["model"] == "deny" else 500, "no")
            return
        prompt = body["messages"][-1]["content"]
        feature = int(re.search(r"feature (\d+)", prompt)[1])
        concept = re.search(r"best-matching concept: (\w+)", prompt)
        if "class known" in prompt and concept:
            answer = f"{concept[1].replace('_', ' ')} | concept:{concept[1]}"
        elif feature % 3 == 0:
            answer = "something odd, no claim"
        else:
            answer = "unknown | none"
        reply = {"choices": [{"message": {"role": "assistant", "content": answer}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuleModel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RuleModel.seen.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_claims_are_parsed_into_simulator_terms():
    concepts = ["cds", "trna"]
    assert gi.rank.parse_draft(1, "tRNA gene | concept:trna", concepts).concept == "trna"
    word = gi.rank.parse_draft(2, "Shine-Dalgarno | word:aggagg@-12", concepts)
    assert (word.word, word.offset, word.text) == ("AGGAGG", -12, "Shine-Dalgarno")
    assert gi.rank.parse_draft(3, "x | concept:promoter", concepts).kind == "none"  # not in run
    assert gi.rank.parse_draft(4, "no bar here", concepts).kind == "none"
    two = gi.rank.parse_draft(5, "Thinking...\nCDS | concept:cds\n", concepts)
    assert two.concept == "cds" and two.text == "CDS"


def test_drafts_from_an_endpoint_are_scored_like_built_in_labels(
    run_copy, endpoint, monkeypatch, capsys
):
    monkeypatch.setenv("GENOINTERP_LM_API_KEY", "secret")
    args = ["-q", "label", str(run_copy), "--positions", "8000", "--block", "1500"]
    code = main([*args, "--lm-endpoint", endpoint, "--lm-model", "rule", "--lm-max", "0"])
    assert code == 0
    table = pd.read_csv(run_copy / "catalog" / "catalog.tsv", sep="\t").set_index("feature")
    alive = table[table["class"] != "dead"]
    assert len(RuleModel.seen) == len(alive)  # one request per alive feature
    first = RuleModel.seen[0]
    assert first["path"] == "/v1/chat/completions" and first["auth"] == "Bearer secret"
    assert first["model"] == "rule" and first["temperature"] == 0
    assert "concepts: " in first["messages"][-1]["content"]
    hiccup = int(re.search(r"feature (\d+)", RuleModel.seen[1]["messages"][-1]["content"])[1])
    assert alive.loc[hiccup, "lm_label"] == "no answer"  # logged, the others still drafted
    alive = alive.drop(index=hiccup)
    known = alive[alive["class"] == "known"]
    assert (known["lm_label"] == known["best_concept"].str.replace("_", " ")).all()
    # the same claim gets the same score whoever wrote it: the scoring is the built-in one
    same = known[known["label"] == known["best_concept"].str.replace("_", " ")]
    assert len(same) > 0
    assert same["lm_label_score"].to_numpy() == pytest.approx(same["label_score"].to_numpy())
    others = alive[alive["class"] != "known"]
    assert others["lm_label_score"].isna().all()  # 'none' and unreadable claims: no score
    odd = others[others.index % 3 == 0]
    assert (odd["lm_label"] == "something odd, no claim").all()
    assert "language-model drafts" in capsys.readouterr().out


def test_a_refused_request_names_the_status_and_the_fix(endpoint):
    with pytest.raises(GenointerpError, match="HTTP 401.*check --lm-model"):
        gi.rank.Endpoint(endpoint, "deny").complete("system", "user")


def test_an_unreachable_endpoint_is_a_clear_error():
    closed = gi.rank.Endpoint("http://127.0.0.1:9/v1", "m", timeout=2)
    with pytest.raises(GenointerpError, match="check --lm-endpoint"):
        closed.complete("system", "user")
