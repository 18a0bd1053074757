"""The technique coder as a fine-tuned encoder: one MITI code per segment of a listener's turn.

    python -m chatbot.coder.tuned train [--out chatbot/coder/model] [--epochs 4]
    python -m chatbot.coder.tuned evaluate FILE|validation [--model FOLDER] [--coder tuned|app]

Training rows are listener turns split into labelled segments (chatbot/coder/data/turns/*.jsonl,
labels after docs/coder-labels.md); the encoder and its training code are the crisis classifier's
(safety/encoder.py), with one softmax over the nine labels below and the client's line before as
paired context. At coding time a turn is cut into sentences (and at a question inside a
sentence); each piece is coded on its own, so the result never depends on chat history, and
neighbouring pieces with the same code merge (questions always count one by one, as in MITI).
Confidences are temperature-scaled on the validation rows.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from chatbot.coder.codes import Code, primary_code
from safety.encoder import META_FILE, TrainSettings, TunedEncoder, fine_tune

LABELS = (
    "reflection:simple",
    "reflection:complex",
    "question:open",
    "question:closed",
    "affirmation",
    "summary",
    "advice",
    "information",
    "other",
)
# The four classes human-coded sessions are usually scored on (summary is a kind of reflection).
FOUR = {
    "reflection": "reflection",
    "summary": "reflection",
    "question": "question",
    "advice": "info_advice",
    "information": "info_advice",
    "affirmation": "other",
    "other": "other",
}
VALIDATION_SHARE = 0.1  # of training turns, chosen by a hash of the id: stable as rows are added
# a sentence ends at . ! ? or an ellipsis; a question mark inside a run-on also ends a piece
_PIECE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")


def data_dir() -> Path:
    return Path(str(resources.files("chatbot.coder") / "data" / "turns"))


def model_dir() -> Path:
    return Path(str(resources.files("chatbot.coder") / "model"))


def has_tuned_model() -> bool:
    return (model_dir() / META_FILE).is_file()


def label_of(segment: dict) -> str:
    return f"{segment['code']}:{segment['subtype']}" if segment.get("subtype") else str(segment["code"])


def load_turns(paths: Sequence[Path] | None = None) -> list[dict]:
    files = list(paths) if paths else sorted(data_dir().glob("*.jsonl"))
    rows = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            where = f"{path.name}:{number}"
            if not row.get("id") or not row.get("text") or not row.get("segments"):
                raise ValueError(f"{where}: a turn needs 'id', 'text' and 'segments'")
            check_segments(row, where)
            rows.append(row)
    return rows


def check_segments(row: dict, where: str) -> None:
    """Segments are in-order substrings of the turn that leave no word uncovered, each with a
    known label; only information and advice say whether permission was given."""
    text, cursor = row["text"], 0
    for seg in row["segments"]:
        if label_of(seg) not in LABELS:
            raise ValueError(f"{where}: unknown label {label_of(seg)!r}")
        found = text.find(seg.get("text") or "\0", cursor)
        if found < 0:
            raise ValueError(f"{where}: segment {seg.get('text')!r} is not the next part of the turn")
        if any(ch.isalnum() for ch in text[cursor:found]):
            raise ValueError(f"{where}: words between segments: {text[cursor:found]!r}")
        cursor = found + len(seg["text"])
        if ("permission" in seg) != (seg["code"] in ("information", "advice")):
            raise ValueError(f"{where}: 'permission' belongs on information and advice, and only there")
    if any(ch.isalnum() for ch in text[cursor:]):
        raise ValueError(f"{where}: words after the last segment: {text[cursor:]!r}")


def is_validation(row: dict) -> bool:
    digest = hashlib.sha256(str(row["id"]).encode()).digest()
    return digest[0] / 256 < VALIDATION_SHARE


def pieces(text: str) -> list[tuple[int, int]]:
    """Character spans of the pieces a turn is coded in: sentences, in order."""
    spans, start = [], 0
    for m in _PIECE_END.finditer(text):
        if text[start : m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text.rstrip())))
    return spans


@dataclass(frozen=True)
class CodedPiece:
    start: int
    end: int
    code: Code


class TunedCoder:
    def __init__(self, encoder: TunedEncoder, temperature: float = 1.0) -> None:
        self.encoder = encoder
        self.temperature = temperature

    @classmethod
    def load(cls, folder: Path | None = None) -> TunedCoder:
        folder = folder or model_dir()
        meta = json.loads((folder / META_FILE).read_text())
        return cls(TunedEncoder.load(folder), float(meta.get("temperature", 1.0)))

    def _probabilities(self, examples: list[tuple[str, str | None]]) -> list[dict[str, float]]:
        import torch

        logits = self.encoder.logits(examples) / self.temperature
        probs = torch.softmax(logits, dim=-1)
        return [{label: float(row[k]) for k, label in enumerate(LABELS)} for row in probs]

    def code_turns(self, turns: Sequence[tuple[str, str | None]]) -> list[list[CodedPiece]]:
        """Each turn's pieces with their codes; many turns in one batched pass."""
        spans = [pieces(text) or [(0, len(text))] for text, _ in turns]
        flat = [(text[a:b], prompt) for (text, prompt), s in zip(turns, spans) for a, b in s]
        probs = iter(self._probabilities(flat)) if flat else iter(())
        out = []
        for (_text, _), turn_spans in zip(turns, spans):
            coded: list[CodedPiece] = []
            for a, b in turn_spans:
                p = next(probs)
                label = max(p, key=p.__getitem__)
                code, _, subtype = label.partition(":")
                piece = CodedPiece(a, b, Code(code, subtype or None, round(p[label], 3), "encoder"))
                last = coded[-1] if coded else None
                if last and last.code.code == code and last.code.subtype == piece.code.subtype and code != "question":
                    merged = Code(code, piece.code.subtype, min(last.code.confidence, piece.code.confidence), "encoder")
                    coded[-1] = CodedPiece(last.start, b, merged)
                else:
                    coded.append(piece)
            out.append(coded)
        return out

    def code_all(self, text: str, prompt: str | None = None) -> list[Code]:
        """MITI segments of one utterance; the same text and prompt always give the same codes."""
        return self.code_many([(text, prompt)])[0]

    def code(self, text: str, prompt: str | None = None) -> Code:
        """One label for the whole utterance (prompt = the person's line before it)."""
        return primary_code(self.code_all(text, prompt))

    def code_many(self, turns: Sequence[tuple[str, str | None]], batch: int = 512) -> list[list[Code]]:
        """Segments of many utterances, batched through the encoder (for coding whole corpora)."""
        out: list[list[Code]] = []
        for start in range(0, len(turns), batch):
            chunk = [((text or "").strip(), prompt or None) for text, prompt in turns[start : start + batch]]
            nonempty = [turn for turn in chunk if turn[0]]
            coded = iter(self.code_turns(nonempty)) if nonempty else iter(())
            for text, _ in chunk:
                out.append([p.code for p in next(coded)] if text else [Code("other", None, 1.0, "rule:empty")])
        return out


def _examples(rows: list[dict]) -> tuple[list[tuple[str, str | None]], list[list[float]]]:
    examples, targets = [], []
    for row in rows:
        for seg in row["segments"]:
            examples.append((seg["text"], row.get("prompt") or None))
            targets.append([float(label == label_of(seg)) for label in LABELS])
    return examples, targets


def _fit_temperature(coder: TunedCoder, rows: list[dict]) -> float:
    """The softmax temperature with the least negative log-likelihood on these rows."""
    import torch

    examples, targets = _examples(rows)
    if not examples:
        return 1.0
    logits = coder.encoder.logits(examples)
    gold = torch.tensor([t.index(1.0) for t in targets])
    best = min(
        (float(torch.nn.functional.cross_entropy(logits / t, gold)), t) for t in [0.5 + 0.1 * k for k in range(26)]
    )
    return round(best[1], 2)


def labelled_turns() -> list[dict]:
    """The rules coder's short labelled utterances (its training split) as one-segment turns."""
    from chatbot.coder.coder import load_labelled

    turns = []
    for number, row in enumerate(load_labelled(), 1):
        if row.get("split", "train") != "train":
            continue
        segment = {"text": row["text"], "code": row["code"], "subtype": row.get("subtype")}
        turns.append(
            {"id": f"labelled-{number}", "prompt": row.get("prompt"), "text": row["text"], "segments": [segment]}
        )
    return turns


def train(out: Path, settings: TrainSettings, progress: bool = True, with_labelled: bool = True) -> dict:
    rows = load_turns() + (labelled_turns() if with_labelled else [])
    train_rows = [r for r in rows if not is_validation(r)]
    val_rows = [r for r in rows if is_validation(r)]
    examples, targets = _examples(train_rows)
    encoder = fine_tune(
        out,
        examples,
        targets,
        LABELS,
        settings,
        progress=progress,
        extra_meta={"task": "technique coder", "turns": len(train_rows), "validation_turns": len(val_rows)},
    )
    coder = TunedCoder(encoder)
    temperature = _fit_temperature(coder, val_rows)
    meta = {**encoder.meta, "temperature": temperature}
    meta["validation"] = evaluate(TunedCoder(encoder, temperature), val_rows)
    (out / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _f1_per_class(gold: list[str], pred: list[str]) -> dict[str, float]:
    scores = {}
    for c in sorted(set(gold)):
        tp = sum(g == c and p == c for g, p in zip(gold, pred))
        fp = sum(g != c and p == c for g, p in zip(gold, pred))
        fn = sum(g == c and p != c for g, p in zip(gold, pred))
        scores[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return scores


def _macro_f1(gold: list[str], pred: list[str]) -> float:
    scores = _f1_per_class(gold, pred)
    return sum(scores.values()) / len(scores) if scores else math.nan


def align(row: dict, coded: list[CodedPiece]) -> list[tuple[dict, Code]]:
    """Each gold segment with the predicted code covering most of its characters."""
    out, cursor = [], 0
    for seg in row["segments"]:
        start = row["text"].find(seg["text"], cursor)
        end = start + len(seg["text"])
        cursor = end

        def overlap(piece: CodedPiece, start: int = start, end: int = end) -> int:
            return min(end, piece.end) - max(start, piece.start)

        out.append((seg, max(coded, key=overlap).code))
    return out


class PieceByPieceCoder:
    """The app's TechniqueCoder (rules + logistic regression) coding the same pieces, to compare."""

    def __init__(self) -> None:
        from chatbot.coder.coder import TechniqueCoder

        self.coder = TechniqueCoder.load()

    def code_turns(self, turns: Sequence[tuple[str, str | None]]) -> list[list[CodedPiece]]:
        return [
            [CodedPiece(a, b, self.coder.code(text[a:b], prompt)) for a, b in pieces(text) or [(0, len(text))]]
            for text, prompt in turns
        ]


def evaluate(coder: TunedCoder | PieceByPieceCoder, rows: list[dict]) -> dict:
    coded = coder.code_turns([(r["text"], r.get("prompt") or None) for r in rows])
    pairs = [pair for row, c in zip(rows, coded) for pair in align(row, c)]
    labelled = [(label_of(seg), f"{c.code}:{c.subtype}" if c.subtype else c.code) for seg, c in pairs]
    figures = score_pairs(labelled)
    figures["calibration_error"] = calibration_error([c.confidence for _, c in pairs], [g == p for g, p in labelled])
    return figures


def calibration_error(confidences: list[float], correct: list[bool], bins: int = 10) -> float:
    """Expected calibration error: how far stated confidence is from accuracy, over ten bins."""
    total, n = 0.0, len(confidences)
    for k in range(bins):
        idx = [i for i, c in enumerate(confidences) if k / bins < c <= (k + 1) / bins or (k == 0 and c == 0)]
        if idx:
            accuracy = sum(correct[i] for i in idx) / len(idx)
            total += len(idx) / n * abs(accuracy - sum(confidences[i] for i in idx) / len(idx))
    return round(total, 4)


def score_pairs(pairs: list[tuple[str, str]]) -> dict:
    """Figures for (gold label, predicted label) pairs, labels as in LABELS."""

    def four(label: str) -> str:
        return FOUR[label.partition(":")[0]]

    gold4, pred4 = [four(g) for g, _ in pairs], [four(p) for _, p in pairs]
    rq = [(g, p) for g, p in zip(gold4, pred4) if g in ("reflection", "question")]
    refl = [(g, p) for g, p in pairs if g.startswith("reflection:") and p.startswith("reflection:")]
    confusion = Counter(zip(gold4, pred4))
    return {
        "segments": len(pairs),
        "accuracy_9": round(sum(g == p for g, p in pairs) / max(1, len(pairs)), 4),
        "macro_f1_4": round(_macro_f1(gold4, pred4), 4),
        "reflection_vs_question_accuracy": round(sum(g == p for g, p in rq) / max(1, len(rq)), 4),
        "simple_vs_complex_accuracy": round(sum(g == p for g, p in refl) / max(1, len(refl)), 4),
        "f1_4": {c: round(f, 4) for c, f in _f1_per_class(gold4, pred4).items()},
        "confusion_4": {f"{g}->{p}": n for (g, p), n in sorted(confusion.items())},
        "confusion_9": {f"{g}->{p}": n for (g, p), n in sorted(Counter(pairs).items())},
    }


@functools.lru_cache(maxsize=1)
def default_tuned_coder() -> TunedCoder:
    return TunedCoder.load()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, default=None)
    t.add_argument("--epochs", type=int, default=4)
    t.add_argument("--rank", type=int, default=16)
    t.add_argument("--seed", type=int, default=0)
    e = sub.add_parser("evaluate")
    e.add_argument("file", help="a turns file (JSONL), or 'validation' for the training turns' validation split")
    e.add_argument("--model", type=Path, default=None)
    e.add_argument("--coder", choices=["tuned", "app"], default="tuned", help="app: today's rules + regression coder")
    args = parser.parse_args(argv)
    if args.command == "train":
        settings = TrainSettings(epochs=args.epochs, rank=args.rank, seed=args.seed, loss="softmax")
        print(json.dumps(train(args.out or model_dir(), settings), indent=1))
    else:
        coder = TunedCoder.load(args.model) if args.coder == "tuned" else PieceByPieceCoder()
        rows = (
            [r for r in load_turns() if is_validation(r)]
            if args.file == "validation"
            else load_turns([Path(args.file)])
        )
        print(json.dumps(evaluate(coder, rows), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
