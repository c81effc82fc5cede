from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import Settings


def test_defaults_and_overrides() -> None:
    s = Settings.from_env(
        {"ERRAND_HOME": "/tmp/h", "ERRAND_MAX_STEPS": "7", "ERRAND_MODEL_PRICE": "1,2"}
    )
    assert s.budgets.max_steps == 7 and s.model_price == (1.0, 2.0) and s.port == 8080
    assert s.model_api_key.get_secret_value() == ""


@pytest.mark.parametrize(
    ("env", "phrase"),
    [
        ({"ERRAND_PORT": "abc"}, "ERRAND_PORT='abc' is not a whole number"),
        ({"ERRAND_MAX_STEPS": "-3"}, "ERRAND_MAX_STEPS=-3 is below the minimum of 1"),
        ({"ERRAND_FIX_ROUNDS": "-1"}, "ERRAND_FIX_ROUNDS=-1"),
        ({"ERRAND_MAX_COST_USD": "0"}, "must be greater than 0"),
        ({"ERRAND_JOBS": "k8s"}, "choose one of pool, process, container"),
        ({"ERRAND_MODEL_PRICE": "3"}, "expected 'input,output'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env({"ERRAND_HOME": "/tmp/h", **env})


def test_the_api_key_is_never_shown() -> None:
    s = Settings.from_env({"ERRAND_HOME": "/tmp/h", "ERRAND_MODEL_API_KEY": "sk-canary-123456"})
    assert "sk-canary" not in repr(s) and "sk-canary" not in s.model_dump_json()
