from __future__ import annotations

import pytest

from chatbot.config import ConfigError, load_config


def test_defaults_are_the_embedded_model_on_loopback():
    config = load_config(environ={})
    assert config.model.backend == "embedded"
    assert config.app.host == "127.0.0.1"
    assert config.locale.country == "US"


def test_file_then_environment_then_command_line(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("generation:\n  seed: 11\n  max_new_tokens: 40\nlocale:\n  country: DE\n")
    env = {"LISTENER__GENERATION__SEED": "12", "LISTENER__MODEL__THREADS": "1"}
    config = load_config(path, ["generation.seed=13"], environ=env)
    assert config.generation.max_new_tokens == 40  # from the file
    assert config.locale.country == "DE"  # from the file
    assert config.model.threads == 1  # from the environment
    assert config.generation.seed == 13  # the command line wins
    assert config.generation_settings().seed == 13


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (["model.backend=gpt"], "model.backend"),
        (["generation.temprature=0.3"], "temprature"),
        (["nonsense"], "section.key=value"),
    ],
)
def test_bad_settings_name_the_field(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=overrides, environ={})
    assert fragment in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_defaults_are_written_once_in_defaults_yaml():
    import dataclasses

    import yaml

    from chatbot.config import Config, default_settings, defaults_path
    from chatbot.models import GenerationSettings

    sections = {name: field.annotation for name, field in Config.model_fields.items()}
    with_defaults = [
        f"{name}.{key}"
        for name, section in sections.items()
        for key, field in section.model_fields.items()  # type: ignore[union-attr]
        if not field.is_required()
    ]
    assert len(sections) == 6 and with_defaults == []
    in_code = [f.name for f in dataclasses.fields(GenerationSettings) if f.default is not dataclasses.MISSING]
    assert in_code == ["stop"]  # a per-call setting, not configuration
    written = yaml.safe_load(defaults_path().read_text("utf-8"))["generation"]
    settings = dataclasses.asdict(default_settings())
    assert {k: settings[k] for k in written} == written and written
    assert default_settings(seed=5).seed == 5
