"""The real transformers code path, on a tiny random Llama built in-process."""

from __future__ import annotations

import pytest

from chatbot.backends.transformers_backend import TransformersChatModel
from chatbot.config import default_settings
from chatbot.models import ModelNotFoundError, complete

GREEDY = default_settings(do_sample=False, max_new_tokens=12, repetition_penalty=1.0)
MESSAGES = [
    {"role": "system", "content": "you are a listener"},
    {"role": "user", "content": "i feel overwhelmed"},
]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return TransformersChatModel(tiny_model_dir, dtype="float32", threads=1, timeout_s=30)


def test_loads_from_a_local_folder_and_reports_identity(tiny, tiny_model_dir):
    assert tiny.identity.backend == "transformers"
    assert tiny.identity.source.endswith(tiny_model_dir.rstrip("/").split("/")[-1])
    assert tiny.identity.dtype == "float32"
    assert tiny.identity.context_window == 256


def test_applies_the_models_own_chat_template(tiny):
    ids = tiny._encode(MESSAGES)["input_ids"][0].tolist()
    text = tiny.tokenizer.decode(ids)
    assert text.startswith("<|system|> you are a listener <|end|> <|user|> i feel overwhelmed")
    assert text.rstrip().endswith("<|assistant|>")
    assert tiny.count_tokens(MESSAGES) == len(ids)


def test_streams_pieces_that_join_to_the_greedy_reply(tiny):
    pieces = list(tiny.stream(MESSAGES, GREEDY))
    assert len(pieces) >= 2
    again = complete(tiny, MESSAGES, GREEDY)
    assert "".join(pieces) == again  # greedy decoding is deterministic
    assert "".join(pieces).strip()


def test_seeded_sampling_is_reproducible(tiny):
    sampled = default_settings(do_sample=True, temperature=1.0, max_new_tokens=12, seed=7)
    assert complete(tiny, MESSAGES, sampled) == complete(tiny, MESSAGES, sampled)


def test_stops_generating_when_the_reader_stops(tiny):
    long = GREEDY.with_(max_new_tokens=200)
    full = list(tiny.stream(MESSAGES, long))
    stream = tiny.stream(MESSAGES, long)
    first = next(stream)
    stream.close()  # the person pressed stop
    assert first == full[0]
    # The worker released the model: another generation starts straight away.
    assert complete(tiny, MESSAGES, GREEDY)
    assert not tiny._lock.locked()


def test_missing_local_folder_gives_a_clear_error(tmp_path):
    with pytest.raises(ModelNotFoundError) as err:
        TransformersChatModel(str(tmp_path / "no-such-model"))
    assert "no-such-model" in str(err.value)


def test_unknown_hub_id_offline_gives_a_clear_error_not_a_download():
    with pytest.raises(ModelNotFoundError) as err:
        TransformersChatModel("nobody-here/not-a-real-model-xyz")
    message = str(err.value)
    assert "HF_HUB_OFFLINE" in message and "not-a-real-model-xyz" in message


def test_model_failure_mid_stream_surfaces_as_model_error(tiny, monkeypatch):
    from chatbot.models import ModelError

    def broken_generate(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(tiny.model, "generate", broken_generate)
    with pytest.raises(ModelError):
        list(tiny.stream(MESSAGES, GREEDY))


def test_system_prompt_cache_gives_the_same_text_and_is_reused(tiny_model_dir):
    cached = TransformersChatModel(tiny_model_dir, dtype="float32", prefix_cache=True)
    plain = TransformersChatModel(tiny_model_dir, dtype="float32", prefix_cache=False)
    first = complete(cached, MESSAGES, GREEDY)
    assert first == complete(plain, MESSAGES, GREEDY)
    assert len(cached._prefix_caches) == 1
    follow_up = [*MESSAGES, {"role": "assistant", "content": first}, {"role": "user", "content": "so tired"}]
    assert complete(cached, follow_up, GREEDY) == complete(plain, follow_up, GREEDY)
    assert len(cached._prefix_caches) == 1  # same system prompt, same cache


def test_static_kv_cache_gives_the_same_greedy_text(tiny_model_dir, tiny):
    static = TransformersChatModel(tiny_model_dir, dtype="float32", kv_cache="static")
    assert not static.use_prefix_cache
    assert complete(static, MESSAGES, GREEDY) == complete(tiny, MESSAGES, GREEDY)
    sampled = default_settings(do_sample=True, temperature=1.0, max_new_tokens=12, seed=3)
    assert complete(static, MESSAGES, sampled) == complete(static, MESSAGES, sampled)
